#!/usr/bin/env python3
"""The capacity model's figures: CPU time per operation and bytes per
account and per session, measured on the release binary with the shipped
settings (argon2id m=19456 t=2 p=1, synchronous=FULL). Prints figures,
asserts nothing.

    cargo build --release && python3 bench/capacity.py [--bin target/release/mana-auth]

CPU time is the server process's own (utime + stime of all its threads from
/proc), so the per-core rates hold on a busy machine too, where wall-clock
throughput would mostly measure the neighbours. Storage is the database's
used pages (page_count - freelist_count after a checkpoint) before and
after: sign-ups with their personal space, sync rows, REGISTER event and
verification mail; sign-ins with their session and LOGIN_SUCCESS event.
"""

import argparse
import http.client
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

PASSWORD = "correct-horse-battery"


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 (1-based) of the whole line.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    def __init__(self, binary, data):
        self.db = os.path.join(data, "mana-auth.db")
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PORT": "0",
            "DATABASE_PATH": self.db,
            "RUST_LOG": "warn,mana_auth=info",
            "RATE_LIMIT_AUTH": "0",
            "RATE_LIMIT_VALIDATE": "0",
            "MAX_DAILY_SIGNUPS": "0",
            "REQUIRE_EMAIL_VERIFICATION": "false",
            "MAIL_LOG_LINKS": "false",
        }
        self.proc = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.PIPE, text=True)
        self.port = None
        for line in self.proc.stdout:
            m = re.search(r"listening on http://[0-9.]+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            sys.exit("the server did not start")
        # Keep reading so the server never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port)

    def post(self, path, body):
        self.conn.request("POST", path, json.dumps(body), {"content-type": "application/json"})
        r = self.conn.getresponse()
        data = r.read()
        if r.status != 200:
            sys.exit(f"{path}: {r.status} {data[:200]!r}")
        return json.loads(data)

    def cpu(self):
        return cpu_seconds(self.proc.pid)

    def used_bytes(self):
        c = sqlite3.connect(self.db, timeout=10)
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages, size, free = (c.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "page_size", "freelist_count"))
        c.close()
        return (pages - free) * size

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def measure(server, n, step):
    """(CPU seconds per call, wall seconds per call) of `step(i)` for i < n."""
    cpu0, wall0 = server.cpu(), time.monotonic()
    for i in range(n):
        step(i)
    return (server.cpu() - cpu0) / n, (time.monotonic() - wall0) / n


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default="target/release/mana-auth")
    p.add_argument("--accounts", type=int, default=300)
    p.add_argument("--checks", type=int, default=20000)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as data:
        s = Server(a.bin, data)
        time.sleep(0.5)
        base = s.used_bytes()
        emails = [f"cap{i}@example.com" for i in range(a.accounts)]
        signup_cpu, signup_wall = measure(s, a.accounts, lambda i: s.post(
            "/api/v1/auth/register", {"email": emails[i], "password": PASSWORD, "name": f"User {i}"}))
        time.sleep(6)  # the mail worker records the verification mails
        after_signup = s.used_bytes()
        tokens = []
        login_cpu, login_wall = measure(s, a.accounts, lambda i: tokens.append(s.post(
            "/api/v1/auth/login", {"email": emails[i], "password": PASSWORD})))
        after_login = s.used_bytes()
        access, refresh = tokens[-1]["accessToken"], tokens[-1]["refreshToken"]
        validate_cpu, validate_wall = measure(s, a.checks, lambda i: s.post(
            "/api/v1/auth/validate", {"token": access}))
        current = [refresh]

        def rotate(_):
            # Refresh tokens rotate: each call spends the current one.
            current[0] = s.post("/api/v1/auth/refresh", {"refreshToken": current[0]})["refreshToken"]

        refresh_cpu, refresh_wall = measure(s, a.checks // 4, rotate)
        s.stop()
    per_user = (after_signup - base) / a.accounts
    per_session = (after_login - after_signup) / a.accounts
    rows = [
        ("sign-up", signup_cpu, signup_wall),
        ("sign-in (password)", login_cpu, login_wall),
        ("token check (/validate)", validate_cpu, validate_wall),
        ("refresh", refresh_cpu, refresh_wall),
    ]
    print(f"mana-auth capacity, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"{'operation':26} {'CPU ms/op':>10} {'per core /s':>12} {'wall ms/op':>11}")
    for name, cpu, wall in rows:
        print(f"{name:26} {cpu * 1e3:10.3f} {1 / cpu if cpu else float('inf'):12.0f} {wall * 1e3:11.3f}")
    print(f"storage: {per_user:.0f} bytes per account, {per_session:.0f} bytes per session "
          f"-> {1e9 / per_user / 1e6:.2f} M accounts or {1e9 / per_session / 1e6:.2f} M sessions per GB")
    print(json.dumps({"bytesPerUser": per_user, "bytesPerSession": per_session,
                      "cpuMs": {n: c * 1e3 for n, c, _ in rows}}))


if __name__ == "__main__":
    main()
