"""Conformance cases for remote globals: the same calls, recorded on TVM's own server and
replayed on ours.

A *case* is a function `case_<what>(r)` in `tests/conformance/cases_<group>.py`. It talks to a
server only through the runner `r`, and every call it makes adds one entry to a *trace*:

  r.call(name, *args, kind=None, refused=False, volatile=False, keep=None)
      Call the global function `name` (looked up once per session) with `args`.
      Arguments are what tests/e2e/tvm_wire.py encodes: None, bool, int, float, str (RawStr),
      bytes (object path), w.DataType, w.Device, w.ObjStr/ObjBytes, w.ByteArray, plus anything a
      previous call returned (a Ref) and remote tensors from r.tensor()/r.empty().
      Returns: the plain value (None, bool, int, float, str, bytes, w.DataType, w.Device), or a
      Ref for an object (Function 68, Module 73, Tensor 70, any other object: pass it back as an
      argument), or None when the call raised and the case expected it (kind=...).
      kind="TypeError": the call must fail. TVM's server sends only the message; ours must
      start its message with "TypeError: ". On TVM the message is recorded for reference.
      Use the kind TVM raises (call the global in-process with the peer's tvm_ffi to see the
      exception class), except where TVM fails an internal check (InternalError, "Check
      failed: ...") on what is a user error: there ours names it (FileNotFoundError,
      ValueError, ...) and the case says so.
      refused=True: our server refuses this global on purpose (it would call back into Python,
      ...): ours must raise; what TVM answered is recorded and shown, not compared.
      volatile=True: only the kind of the result is compared (type index, error or not), not
      its value (thread counts, pointers, timings).
      keep=False: do not free the returned object at the end (the default frees every Ref).
      If the server drops the session during the call (TVM's does on some bad input, e.g. a
      missing argument), the entry says so and the case ends there; on replay, ours must
      answer that call with an error (of `kind`) and the rest of the case is not compared.
  r.call_ref(fn_ref, *args, ...)  Call a returned Function the same way (`name` in the trace is
      "<ref>").
  r.tensor(array) / r.empty(shape, dtype="float32")
      A tensor allocated on the server (DevAllocDataWithScope + CopyToRemote), passed as a
      DLTensor* argument; freed at the end of the case.
  r.numpy(x)  Copy a remote tensor (from r.tensor/r.empty, or a returned Tensor Ref) back; the
      array (dtype, shape, values) is recorded and compared exactly.
  r.note(label, value)  Record a JSON value computed by the case (a statistic of random
      numbers, a sorted list of keys, ...); compared exactly (floats: see r.note(..., tol=)).
  r.upload(name, data) / r.load_module(name)  tvm.rpc.server.upload / load_module (a Ref).
  r.session  The underlying tvm_wire.Session, for anything else.

A case must be deterministic: the same calls in the same order on both servers. Run
`record.py --group G --server HOST:PORT` against TVM's tvm_rpc to write
tests/conformance/goldens/G.json; tests/e2e/test_conformance.py replays every group on ours.
"""
import importlib.util
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
import tvm_wire as w  # noqa: E402

GOLDEN_DIR = os.path.join(HERE, "goldens")
TIMEOUT_PREFIX = w.TIMEOUT_ERROR_PREFIX


class Ref:
    """An object left on the server: its type index and handle (or tensor header)."""

    def __init__(self, type_index, handle, header=None):
        self.type_index, self.handle, self.header = int(type_index), int(handle), header

    def arg(self):
        if self.type_index == w.TI.FUNCTION:
            return w.FunctionHandle(self.handle)
        if self.type_index == w.TI.MODULE:
            return w.ModuleHandle(self.handle)
        if self.type_index == w.TI.TENSOR:
            # The stock client passes a returned tensor back as its DLTensor header.
            return self.header
        return w.ObjectRef(self.handle)

    def __repr__(self):
        return "Ref(type=%d, 0x%x)" % (self.type_index, self.handle)


class CaseFailed(AssertionError):
    pass


class SessionDropped(Exception):
    """The server closed the session in the middle of a call (TVM's server does so on some
    bad input); the case ends there."""


def _float(v):
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def _jsonable(v):
    """A JSON form of a note value (tuples become lists, floats keep their value)."""
    if isinstance(v, float):
        return _float(v)
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if hasattr(v, "tolist"):
        return _jsonable(v.tolist())
    return v


class Runner:
    """Runs cases on one server (a fresh session per case) and builds their traces."""

    def __init__(self, host, port, key="cpu", ours=False):
        self.host, self.port, self.key, self.ours = host, port, key, ours
        self.session = None
        self.dead = False
        self.trace = None
        self._funcs = {}
        self._refs = []
        self._tensors = []

    # --- lifecycle
    def start(self):
        self.session = w.Session.connect(self.host, self.port, self.key)
        self.dead = False
        self.trace, self._funcs, self._refs, self._tensors = [], {}, [], []

    def finish(self):
        s = self.session
        self.session = None
        if self.dead:
            s.close()
            return
        try:
            for ref in reversed(self._refs):
                if ref.handle:
                    s.free_handle(ref.handle)
            for t in self._tensors:
                t.free()
            for h in self._funcs.values():
                if h:
                    s.free_handle(h)
            s.shutdown()
        finally:
            s.close()

    # --- calls
    def _func(self, name):
        if name not in self._funcs:
            self._funcs[name] = self.session.get_global_func(name)
        return self._funcs[name]

    def _encode(self, a):
        if isinstance(a, Ref):
            return a.arg()
        if isinstance(a, w.RemoteTensor):
            return a.header
        if isinstance(a, (list, tuple)):
            raise TypeError("lists cannot be passed to a remote global; build an ffi.Array")
        return a

    def _result(self, raw, keep):
        """Normalise a CallFunc Return sequence -> (python value, trace form)."""
        v = w.decode_typed_return(raw, self.session)
        if v is None:
            return None, {"none": None}
        if isinstance(v, bool):
            return v, {"bool": v}
        if isinstance(v, w.OpaquePtr):
            return v, {"ptr": "null" if int(v) == 0 else "non-null"}
        if isinstance(v, int):
            return v, {"int": v}
        if isinstance(v, float):
            return v, {"float": _float(v)}
        if isinstance(v, str):
            return v, {"str": v}
        if isinstance(v, bytes):
            return v, {"bytes": v.hex()}
        if isinstance(v, w.DataType):
            return v, {"dtype": [v.code, v.bits, v.lanes]}
        if isinstance(v, w.Device):
            return v, {"device": [v.device_type, v.device_id]}
        if isinstance(v, w.ReturnedTensor):
            ref = Ref(w.TI.TENSOR, v.handle, v.header)
            h = v.header
            form = {"tensor": {"shape": list(h.shape), "dtype": [h.dtype.code, h.dtype.bits,
                                                                  h.dtype.lanes],
                               "device": [h.device.device_type, h.device.device_id]}}
        elif isinstance(v, w.RemoteFunction):
            ref, form = Ref(w.TI.FUNCTION, v.handle), {"object": int(w.TI.FUNCTION)}
        elif isinstance(v, w.RemoteModule):
            ref, form = Ref(w.TI.MODULE, v.handle), {"object": int(w.TI.MODULE)}
        elif isinstance(v, w.RemoteObject):
            ref, form = Ref(v.type_index, v.handle), {"object": v.type_index}
        else:
            raise w.ProtocolError("unexpected return %r" % (v,))
        if keep is not False:
            self._refs.append(ref)
        return ref, form

    def _do_call(self, name, handle, args, kind, refused, volatile, keep):
        entry = {"call": name}
        if kind:
            entry["kind"] = kind
        if refused:
            entry["refused"] = True
        if volatile:
            entry["volatile"] = True
        if not handle:
            entry["result"] = {"missing": True}
            self.trace.append(entry)
            return None
        try:
            raw = self.session.call_raw(handle, *[self._encode(a) for a in args])
        except w.RPCError as e:
            entry["result"] = {"error": e.text}
            self.trace.append(entry)
            return None
        except (EOFError, OSError) as e:
            entry["result"] = {"dropped": str(e)}
            self.trace.append(entry)
            self.dead = True
            raise SessionDropped(name)
        value, form = self._result(raw, keep)
        entry["result"] = form
        self.trace.append(entry)
        return value

    def call(self, name, *args, kind=None, refused=False, volatile=False, keep=None):
        return self._do_call(name, self._func(name), args, kind, refused, volatile, keep)

    def call_ref(self, fn, *args, kind=None, refused=False, volatile=False, keep=None):
        return self._do_call("<ref>", fn.handle if isinstance(fn, Ref) else int(fn), args, kind,
                             refused, volatile, keep)

    # --- tensors, files, notes
    def tensor(self, array):
        t = self.session.tensor(array)
        self._tensors.append(t)
        return t

    def empty(self, shape, dtype="float32"):
        t = self.session.empty(tuple(shape), dtype)
        self._tensors.append(t)
        return t

    def numpy(self, x):
        if isinstance(x, Ref):
            raw = self.session.copy_from_remote(x.header, x.header.nbytes)
            a = w._to_numpy(raw, x.header)
        else:
            a = x.numpy()
        self.trace.append({"numpy": {"dtype": str(a.dtype), "shape": list(a.shape),
                                     "values": _jsonable(a.reshape(-1).tolist())}})
        return a

    def note(self, label, value, tol=None):
        entry = {"note": label, "value": _jsonable(value)}
        if tol is not None:
            entry["tol"] = tol
        self.trace.append(entry)

    def upload(self, name, data):
        self.session.upload(name, data)

    def load_module(self, name):
        return self.call("tvm.rpc.server.load_module", name)


# --- cases and goldens --------------------------------------------------------------------

def groups():
    """Names of the case groups (tests/conformance/cases_<group>.py)."""
    return sorted(f[len("cases_"):-3] for f in os.listdir(HERE)
                  if f.startswith("cases_") and f.endswith(".py"))


def load_cases(group):
    """[(name, function)] of a group, in file order."""
    path = os.path.join(HERE, "cases_%s.py" % group)
    spec = importlib.util.spec_from_file_location("cases_" + group, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    cases = [(n, f) for n, f in vars(mod).items() if n.startswith("case_") and callable(f)]
    cases.sort(key=lambda nf: nf[1].__code__.co_firstlineno)
    return cases


def run_case(runner, fn):
    runner.start()
    try:
        fn(runner)
    except SessionDropped:
        pass
    finally:
        runner.finish()
    return runner.trace


def golden_path(group):
    return os.path.join(GOLDEN_DIR, "%s.json" % group)


def load_golden(group):
    with open(golden_path(group)) as f:
        return json.load(f)


def _error_kind_ok(text, kind):
    head = text.split(":", 1)[0].strip()
    return head == kind


def compare_entry(live, gold, where):
    """Raise CaseFailed if a live trace entry (ours) does not conform to the golden (TVM)."""
    if set(live) - {"result", "value"} != set(gold) - {"result", "value"}:
        raise CaseFailed("%s: trace entry %r does not match the recording %r" %
                         (where, live, gold))
    if "note" in gold or "numpy" in gold:
        lv, gv = live.get("value", live.get("numpy")), gold.get("value", gold.get("numpy"))
        tol = gold.get("tol")
        if tol is not None and _close(lv, gv, tol):
            return
        if lv != gv:
            raise CaseFailed("%s: %r\n  ours: %r\n  TVM:  %r" % (where, gold.get("note", "numpy"),
                                                                 lv, gv))
        return
    lr, gr = live["result"], gold["result"]
    name = gold["call"]
    if "missing" in lr:
        raise CaseFailed("%s: %s is not a global on our server" % (where, name))
    if "dropped" in lr:
        raise CaseFailed("%s: our server dropped the session during %s" % (where, name))
    if "dropped" in gr:
        # TVM's server gave up on this input; ours must answer with a proper error.
        if "error" not in lr:
            raise CaseFailed("%s: TVM dropped the session on %s; ours must raise, got %r" %
                             (where, name, lr))
        if gold.get("kind") and not _error_kind_ok(lr["error"], gold["kind"]):
            raise CaseFailed("%s: %s should fail with %s, ours said %r" %
                             (where, name, gold["kind"], lr["error"]))
        return
    if gold.get("refused"):
        if "error" not in lr:
            raise CaseFailed("%s: %s should be refused, but answered %r" % (where, name, lr))
        return
    if gold.get("kind"):
        if "error" not in gr:
            raise CaseFailed("%s: the case expects %s to fail with %s, but TVM answered %r" %
                             (where, name, gold["kind"], gr))
        if "error" not in lr:
            raise CaseFailed("%s: %s should fail with %s (TVM: %r), ours answered %r" %
                             (where, name, gold["kind"], gr["error"], lr))
        if not _error_kind_ok(lr["error"], gold["kind"]):
            raise CaseFailed("%s: %s should fail with %s, ours said %r" %
                             (where, name, gold["kind"], lr["error"]))
        return
    if "error" in gr:
        raise CaseFailed("%s: TVM raised %r for %s, but the case does not say kind=...: fix the "
                         "case" % (where, gr["error"], name))
    if "error" in lr:
        raise CaseFailed("%s: %s failed on ours: %s (TVM answered %r)" %
                         (where, name, lr["error"], gr))
    if gold.get("volatile"):
        if set(lr) != set(gr) or ("object" in gr and lr["object"] != gr["object"]):
            raise CaseFailed("%s: %s answered %r, TVM %r" % (where, name, lr, gr))
        return
    if lr != gr:
        raise CaseFailed("%s: %s answered %r, TVM %r" % (where, name, lr, gr))


def _close(a, b, tol):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= tol
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return all(_close(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        return all(_close(a[k], b[k], tol) for k in a)
    return a == b


def compare_trace(live, gold, case):
    for i, g in enumerate(gold):
        if "dropped" in g.get("result", {}):
            gold = gold[:i + 1]
            live = live[:i + 1]
            break
    for i in range(max(len(live), len(gold))):
        where = "%s, entry %d" % (case, i)
        if i >= len(live):
            raise CaseFailed("%s: ours stopped early; TVM went on with %r" % (where, gold[i]))
        if i >= len(gold):
            raise CaseFailed("%s: ours made an extra call %r" % (where, live[i]))
        compare_entry(live[i], gold[i], where)


def globals_in_golden(golden):
    """Global names a golden file calls."""
    names = set()
    for trace in golden["cases"].values():
        for e in trace:
            if "call" in e and e["call"] != "<ref>":
                names.add(e["call"])
    return names
