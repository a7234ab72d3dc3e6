"""Record a real TVM WebSocket device server serving the real TVM client through our proxy's web
port (docs/control-plane.md §4.6), as a vector the tests replay without TVM
(tests/e2e/test_proxy_web.py).

    PYTHONPATH=$PEER/py/site TVM_USE_RUNTIME_LIB=1 TVM_LIBRARY_PATH=$PEER/build/lib \\
        /usr/bin/python3 tests/conformance/record_websocket.py ./tvmrpc-console OUT.json

It starts our proxy (standalone, or --tracker mode with our tracker when --tracker is given),
TVM's `tvm.rpc.proxy.websocket_proxy_server` behind a WebSocket relay, and the stock client
behind a TCP relay. The relays log every frame and chunk in causal order: each is logged before
it is forwarded, so a reply is always logged after what it answers."""
import json
import os
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import ws_wire  # noqa: E402

KEY = "webgpu"
events, lock = [], threading.Lock()


def log(peer, direction, data, opcode=None):
    with lock:
        e = {"peer": peer, "dir": direction, "hex": data.hex()}
        if opcode is not None:
            e["opcode"] = opcode
        events.append(e)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def ws_relay(listen, web_port):
    """TVM's WebSocket server -> here -> our web port, frame for frame."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", listen))
    srv.listen(1)
    tvm_side, _ = srv.accept()
    ws_wire.server_handshake(tvm_side)
    ours = ws_wire.Client("127.0.0.1", web_port)

    def up():
        try:
            while True:
                op, payload, _ = ws_wire.read_frame(tvm_side, expect_masked=True)
                if op == ws_wire.OP_CLOSE:
                    ours.close()
                    return
                log("ws", "send", payload, op)
                ours.send_raw(ws_wire.frame(op, payload))
        except (EOFError, OSError):
            ours.close()

    def down():
        try:
            while True:
                op, payload, _ = ours.recv_frame()
                if op == ws_wire.OP_CLOSE:
                    tvm_side.close()
                    return
                log("ws", "recv", payload, op)
                tvm_side.sendall(ws_wire.frame(op, payload, mask=False))
        except (EOFError, OSError):
            tvm_side.close()
    for f in (up, down):
        threading.Thread(target=f, daemon=True).start()


def tcp_relay(listen, port):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", listen))
    srv.listen(1)
    client, _ = srv.accept()
    ours = socket.create_connection(("127.0.0.1", port))

    def pump(src, dst, direction):
        try:
            while True:
                data = src.recv(1 << 20)
                if not data:
                    break
                log("tcp", direction, data)
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    threading.Thread(target=pump, args=(client, ours, "send"), daemon=True).start()
    threading.Thread(target=pump, args=(ours, client, "recv"), daemon=True).start()


CLIENT = r"""
import sys, numpy as np, tvm
from tvm import rpc
remote = rpc.connect("127.0.0.1", int(sys.argv[1]), key=sys.argv[2], session_timeout=60)
dev = remote.cpu()
x = np.arange(1024, dtype="float32") * 0.5 - 7
a = tvm.runtime.tensor(x, dev)
b = tvm.runtime.empty((1024,), "float32", dev)
b.copyfrom(a)
assert (b.numpy() == x).all()
big = np.random.RandomState(7).standard_normal(16384).astype("float32")
c = tvm.runtime.tensor(big, dev)
assert (c.numpy() == big).all()
f = remote.get_function("ffi.FunctionListGlobalNamesFunctor")()
print("globals", f(-1) > 0)
"""


def main():
    binary, out = sys.argv[1], sys.argv[2]
    port, web, wsr, tcpr = free_port(), free_port(), free_port(), free_port()
    proxy = subprocess.Popen([binary, "--headless", "proxy", "--host", "127.0.0.1", "--port",
                              str(port), "--port-end", str(port + 1), "--web-port", str(web)],
                             stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    threading.Thread(target=ws_relay, args=(wsr, web), daemon=True).start()
    threading.Thread(target=tcp_relay, args=(tcpr, port), daemon=True).start()
    server = subprocess.Popen([sys.executable, "-c",
                               "from tvm.rpc import proxy; proxy.websocket_proxy_server("
                               "'ws://127.0.0.1:%d/ws', key='%s')" % (wsr, KEY)])
    time.sleep(3)
    subprocess.run([sys.executable, "-c", CLIENT, str(tcpr), KEY], check=True, timeout=120)
    time.sleep(1)
    server.kill()
    proxy.terminate()
    log_text = proxy.communicate(timeout=10)[1]
    with lock:
        record = {"description": "TVM's websocket_proxy_server (real tvm package) serving the "
                                 "stock client through tvmrpc's proxy web port: tensor copies "
                                 "(4 KiB, 64 KiB) and a global call",
                  "key": KEY, "events": events}
    with open(out, "w") as f:
        json.dump(record, f, indent=0)
    print("recorded %d events" % len(events))
    print(log_text)


if __name__ == "__main__":
    main()
