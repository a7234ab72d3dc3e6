"""Replay the client half of a recorded session (a real TVM client talking to TVM's own server)
against a live server of ours, request by request, and check every reply against the recorded
one by structure (tvm_wire.packet_structure: handles, pointers and blob contents masked).

Handles and data pointers differ between servers, so each recorded handle seen in a reply is
mapped to the live handle in the same position of the live reply, and later requests are sent
with the live values. `substitute(index, packet)` may change a request before it is sent (e.g.
upload a file the test built instead of the recorded one); it returns the packet to send.
Floats are compared exactly when keep_floats is set."""
import tvm_wire as w


class ReplayMismatch(AssertionError):
    pass


def _handleish(v):
    return isinstance(v, (w.OpaquePtr, w.HandleArg, w.ObjectRef))


def _handle_value(v):
    return int(v) if isinstance(v, w.OpaquePtr) else v.handle


def _learn(mapping, recorded, live):
    """Pair handle-like values of a recorded reply with the live reply's."""
    if recorded.args is None or live.args is None:
        return
    for r, l in zip(recorded.args, live.args):
        if _handleish(r) and _handleish(l):
            if _handle_value(r):
                mapping[_handle_value(r)] = _handle_value(l)
        elif isinstance(r, w.TensorHeader) and isinstance(l, w.TensorHeader) and r.data:
            mapping[r.data] = l.data


def _map_value(mapping, v):
    if isinstance(v, w.OpaquePtr):
        return w.OpaquePtr(mapping.get(int(v), int(v)))
    if isinstance(v, w.ObjectRef):
        return w.ObjectRef(mapping.get(v.handle, v.handle), v.outer)
    if isinstance(v, w.HandleArg):
        return type(v)(mapping.get(v.handle, v.handle))
    if isinstance(v, w.TensorHeader):
        return v.replace(data=_map_data(mapping, v.data))
    return v


def _map_data(mapping, ptr):
    """A data pointer may point inside a recorded allocation (an offset view)."""
    if ptr in mapping or not ptr:
        return mapping.get(ptr, ptr)
    best = max((k for k in mapping if k <= ptr and ptr - k < (1 << 30)), default=None)
    return mapping[best] + (ptr - best) if best is not None else ptr


def _map_request(mapping, p):
    q = w.Packet(p.code, args=p.args, handle=p.handle, version=p.version, header=p.header,
                 nbytes=p.nbytes, data=p.data, body=p.body)
    if q.handle:
        q.handle = mapping.get(q.handle, q.handle)
    if q.args is not None:
        q.args = [_map_value(mapping, a) for a in q.args]
    if q.header is not None:
        q.header = _map_value(mapping, q.header)
    return q


def _string_tags(p):
    """A string result is [11 SmallStr | 65 Str, text], bytes [12 | 66, data]: which tag
    TVM's server sends depends on how the function built its result (a C string or a short
    copy gives the small form, a std::string the object), and the client reads both alike."""
    if p.code == w.RPCCode.RETURN and p.args and len(p.args) == 2 and \
            isinstance(p.args[0], int) and p.args[0] in (11, 12):
        return w.Packet(p.code, args=[p.args[0] + 54] + p.args[1:])
    return p


def _more_globals(req, rep, live):
    """Ours may offer a global TVM's server lacks (e.g. tvm.rpc.server.GetCRTMaxPacketSize):
    a recorded null from GetGlobalFunc may be a handle here."""
    return (req.code == w.RPCCode.GET_GLOBAL_FUNC and rep.code == live.code == w.RPCCode.RETURN
            and rep.args == [w.OpaquePtr(0)] and len(live.args) == 1
            and isinstance(live.args[0], w.OpaquePtr))


def replay(session, recorded, substitute=None, keep_floats=False, equivalent=None):
    """Send every recorded request on `session` (a connected, initialised tvm_wire.Session,
    so the recorded InitServer is skipped) and compare the replies. `equivalent(index,
    recorded request, recorded reply, live reply)` may accept a reply that differs by design.
    Returns the list of (request, live reply) pairs."""
    mapping = {}
    out = []
    for i, (req, rep) in enumerate(recorded.pairs):
        if req.code == w.RPCCode.INIT_SERVER:
            continue
        live_req = _map_request(mapping, req)
        if substitute:
            live_req = substitute(i, live_req)
        session.send_packet(live_req)
        if req.code == w.RPCCode.SHUTDOWN:
            out.append((live_req, None))
            break
        live = session.recv_packet()
        want = w.packet_structure(_string_tags(rep), keep_floats=keep_floats)
        got = w.packet_structure(_string_tags(live), keep_floats=keep_floats)
        if got != want and not _more_globals(req, rep, live) and not (
                equivalent and live.code == rep.code and equivalent(i, req, rep, live)):
            raise ReplayMismatch("request %d %r:\n  ours:     %r\n  recorded: %r" %
                                 (i, req, live, rep))
        _learn(mapping, rep, live)
        out.append((live_req, live))
    return out
