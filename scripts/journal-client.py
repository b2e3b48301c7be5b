"""A client of the demo guest's journal service (a guest with a disk) that holds one TCP connection: sends "w" every
INTERVAL seconds, each of which makes the guest append one record to /data/journal and fdatasync it, and prints each
answer as "durable <seq> <rand> <sent ns> <received ns>" (CLOCK_MONOTONIC, flushed). With COUNT -1 it sends
"unmount" instead and prints the answer; with COUNT -2, "stream 5" (the guest's own writer, a record every 5 ms). On any failure it prints "error <what>" and exits 1.
Usage: journal-client.py HOST PORT INTERVAL [COUNT]  (COUNT 0: until killed)."""
import socket
import sys
import time

host, port, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
count = int(sys.argv[4]) if len(sys.argv) > 4 else 0
try:
    s = socket.create_connection((host, port), timeout=60)
    f = s.makefile("rwb", buffering=0)
    print("connected", flush=True)
    if count < 0:
        f.write(b"unmount\n" if count == -1 else b"stream 5\n")
        print(f.readline().decode().strip(), flush=True)
        sys.exit(0)
    sent = 0
    while count == 0 or sent < count:
        sent_ns = time.monotonic_ns()
        f.write(b"w\n")
        line = f.readline().decode()
        if not line:
            print("error the server closed the connection", flush=True)
            sys.exit(1)
        fields = line.split()
        if len(fields) != 3 or fields[0] != "durable":
            print("error %s" % line.strip(), flush=True)
            sys.exit(1)
        print("durable %s %s %d %d" % (fields[1], fields[2], sent_ns, time.monotonic_ns()), flush=True)
        sent += 1
        time.sleep(interval)
except Exception as e:  # noqa: BLE001 - the test reads the reason
    print("error %s" % e, flush=True)
    sys.exit(1)
