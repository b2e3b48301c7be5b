"""A Redis client that holds one TCP connection (RESP over a plain socket, nothing to install).
write mode: SETs key romulus:<i> to a random value for i = 1, 2, 3, ... one at a time, every INTERVAL seconds, and
prints "acked <i> <value>" once Redis answered +OK (flushed). check mode: GETs romulus:1 .. romulus:COUNT and prints
"value <i> <value or nil>" for each, then "done". On any failure it prints "error <what>" and exits 1.
Usage: redis-client.py HOST PORT write INTERVAL [COUNT]   (COUNT 0: until killed)
       redis-client.py HOST PORT check COUNT"""
import random
import socket
import sys
import time


def command(f, *words):
    out = b"*%d\r\n" % len(words)
    for w in words:
        w = w.encode() if isinstance(w, str) else w
        out += b"$%d\r\n%s\r\n" % (len(w), w)
    f.write(out)
    line = f.readline()
    if not line:
        raise IOError("the server closed the connection")
    if line.startswith(b"$"):
        n = int(line[1:])
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2].decode()
    if line.startswith(b"-"):
        raise IOError("redis said " + line.decode().strip())
    return line.decode().strip()


host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    s = socket.create_connection((host, port), timeout=60)
    f = s.makefile("rwb", buffering=0)
    if mode == "write":
        interval = float(sys.argv[4])
        count = int(sys.argv[5]) if len(sys.argv) > 5 else 0
        print("connected", flush=True)
        i = 0
        while count == 0 or i < count:
            i += 1
            value = "%016x" % random.getrandbits(64)
            answer = command(f, "SET", "romulus:%d" % i, value)
            if answer != "+OK":
                print("error SET romulus:%d answered %s" % (i, answer), flush=True)
                sys.exit(1)
            print("acked %d %s" % (i, value), flush=True)
            time.sleep(interval)
    else:
        count = int(sys.argv[4])
        for i in range(1, count + 1):
            print("value %d %s" % (i, command(f, "GET", "romulus:%d" % i)), flush=True)
        print("done", flush=True)
except Exception as e:  # noqa: BLE001 - the test reads the reason
    print("error %s" % e, flush=True)
    sys.exit(1)
