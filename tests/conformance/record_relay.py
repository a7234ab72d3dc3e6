#!/usr/bin/python3
"""A recording relay, for making wire vectors from real TVM components (never run in CI).

  record_relay.py --listen 9095 --to 127.0.0.1:9090 --out tests/vectors/NAME.json \\
                  --scenario NAME --description "..." [--connections 1]

Accepts connections on 127.0.0.1:LISTEN, relays each to --to, and logs every chunk that
crosses in either direction. Consecutive chunks in one direction are joined into one
exchange, as in tests/vectors/README.md: {"scenario", "description", "exchanges": [{"dir":
"c2s"|"s2c", "hex"}]}. With --connections N > 1 the file gets "connections": [[...], ...]
instead of "exchanges". Writes the file once the last connection has closed."""
import argparse
import json
import select
import socket
import sys


def relay_one(client, target):
    upstream = socket.create_connection(target)
    exchanges = []
    peers = {client: (upstream, "c2s"), upstream: (client, "s2c")}
    open_ = {client, upstream}
    while open_:
        ready, _, _ = select.select(list(open_), [], [], 120)
        if not ready:
            break
        for s in ready:
            other, d = peers[s]
            data = s.recv(1 << 20)
            if not data:
                open_.discard(s)
                try:
                    other.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                continue
            other.sendall(data)
            if exchanges and exchanges[-1]["dir"] == d:
                exchanges[-1]["hex"] += data.hex()
            else:
                exchanges.append({"dir": d, "hex": data.hex()})
    client.close()
    upstream.close()
    return exchanges


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--to", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--description", default="")
    ap.add_argument("--connections", type=int, default=1)
    a = ap.parse_args()
    host, port = a.to.rsplit(":", 1)
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", a.listen))
    lst.listen(4)
    print("relay listening on 127.0.0.1:%d -> %s" % (a.listen, a.to), flush=True)
    conns = []
    for _ in range(a.connections):
        c, _ = lst.accept()
        conns.append(relay_one(c, (host, int(port))))
    out = {"scenario": a.scenario, "description": a.description}
    if a.connections == 1:
        out["exchanges"] = conns[0]
    else:
        out["connections"] = conns
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote %s" % a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
