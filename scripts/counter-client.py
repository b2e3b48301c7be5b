"""A client of the demo guest's counter service that holds one TCP connection: sends "inc" every INTERVAL seconds
and prints each answer as "value <n> <sent ns> <received ns>" (CLOCK_MONOTONIC, the clock of Java's
System.nanoTime on Linux; flushed). On any failure it prints "error <what>" and exits 1.
Usage: counter-client.py HOST PORT INTERVAL [COUNT]  (COUNT 0: until killed)."""
import socket
import sys
import time

host, port, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
count = int(sys.argv[4]) if len(sys.argv) > 4 else 0
try:
    s = socket.create_connection((host, port), timeout=60)
    f = s.makefile("rwb", buffering=0)
    print("connected", flush=True)
    sent = 0
    while count == 0 or sent < count:
        sent_ns = time.monotonic_ns()
        f.write(b"inc\n")
        line = f.readline()
        if not line:
            print("error the server closed the connection", flush=True)
            sys.exit(1)
        print("value %d %d %d" % (int(line), sent_ns, time.monotonic_ns()), flush=True)
        sent += 1
        time.sleep(interval)
except Exception as e:  # noqa: BLE001 - the test reads the reason
    print("error %s" % e, flush=True)
    sys.exit(1)
