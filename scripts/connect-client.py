"""A client of the demo guest's counter service that opens a new TCP connection every INTERVAL seconds: each one
connects, sends "get" (which changes nothing), reads the answer and closes. Prints a line per attempt:
"conn <started ns> <connected ns> <answered ns> <value>" (CLOCK_MONOTONIC, the clock of Java's System.nanoTime on
Linux; flushed) or "connfail <started ns> <what>". The attempts run side by side (a thread each, at most 64 at once;
an attempt that would exceed that is reported as "connfail <ns> busy"), so a connection whose SYN was lost does not
delay the ones after it. Runs until killed.
Usage: connect-client.py HOST PORT INTERVAL [TIMEOUT]  (TIMEOUT: seconds an attempt may take, default 10)."""
import socket
import sys
import threading
import time

host, port, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 10.0
out = threading.Lock()
slots = threading.Semaphore(64)


def say(line):
    with out:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def attempt(started):
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            connected = time.monotonic_ns()
            s.sendall(b"get\n")
            f = s.makefile("rb")
            line = f.readline()
            answered = time.monotonic_ns()
            if not line:
                say("connfail %d the server closed the connection" % started)
                return
            say("conn %d %d %d %d" % (started, connected, answered, int(line)))
    except Exception as e:  # noqa: BLE001 - the benchmark reads the reason
        say("connfail %d %s" % (started, str(e).replace("\n", " ")))
    finally:
        slots.release()


next_at = time.monotonic()
while True:
    started = time.monotonic_ns()
    if slots.acquire(blocking=False):
        threading.Thread(target=attempt, args=(started,), daemon=True).start()
    else:
        say("connfail %d busy" % started)
    next_at += interval
    time.sleep(max(0.0, next_at - time.monotonic()))
