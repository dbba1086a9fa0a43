#!/usr/bin/env python3
"""The memory of a burst of consumer instances: Tansu and the proxy on loopback, N consumer
instances (default 500) created, subscribed, read once each and left to expire
(consumer.instance.timeout.ms=3000); prints the proxy's RSS idle, at its peak, and 60 s after.

    python3 scripts/instance_memory.py target/release/kafka-proxy [N]

BATCHES (default 100) batches of 500 records of 100 bytes go to the topic first; BATCHES=0
leaves it empty. Needs Tansu (scripts/install-deps.sh) and python3-requests.
"""
import subprocess, sys, time, os, requests, threading, base64
from concurrent.futures import ThreadPoolExecutor
binary = sys.argv[1]; N = int(sys.argv[2]) if len(sys.argv) > 2 else 500
kport, pport = 19392, 18382
tansu = subprocess.Popen([os.path.expanduser("~/.cargo/bin/tansu"), "broker", "--listener-url", f"tcp://127.0.0.1:{kport}", "--advertised-listener-url", f"tcp://127.0.0.1:{kport}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(1.5)
proxy = subprocess.Popen([binary, "--set", f"bootstrap.servers=127.0.0.1:{kport}", "--set", f"listeners=http://127.0.0.1:{pport}", "--schema-registry-listeners", "", "--set", "consumer.instance.timeout.ms=3000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, RUST_LOG="error"))
base = f"http://127.0.0.1:{pport}"
def rss():
    for line in open(f"/proc/{proxy.pid}/status"):
        if line.startswith("VmRSS"): return int(line.split()[1]) // 1024
peak = [0]; stop = [False]
def watch():
    while not stop[0]:
        peak[0] = max(peak[0], rss() or 0); time.sleep(0.05)
try:
    for _ in range(200):
        try: requests.get(base + "/", timeout=1); break
        except Exception: time.sleep(0.1)
    V2 = "application/vnd.kafka.v2+json"; B = "application/vnd.kafka.binary.v2+json"
    cid = requests.get(base + "/v3/clusters", timeout=10).json()["data"][0]["cluster_id"]
    r = requests.post(f"{base}/v3/clusters/{cid}/topics", json={"topic_name": "mem500", "partitions_count": 4}, timeout=10)
    assert r.status_code in (200, 201), r.text
    time.sleep(1)
    val = base64.b64encode(b"x" * 100).decode()
    for _ in range(int(os.environ.get("BATCHES", "100"))):
        r = requests.post(base + "/topics/mem500", json={"records": [{"value": val}] * 500}, headers={"Content-Type": B}, timeout=10)
        assert r.status_code == 200, r.text
    print("idle RSS", rss(), "MB", flush=True)
    threading.Thread(target=watch, daemon=True).start()
    def one(i):
        g = f"mem500-g{i}"
        r = requests.post(f"{base}/consumers/{g}", json={"name": f"c{i}", "format": "binary", "auto.offset.reset": "earliest"}, headers={"Content-Type": V2}, timeout=30)
        if r.status_code != 200: return r.status_code
        uri = r.json()["base_uri"]
        requests.post(uri + "/subscription", json={"topics": ["mem500"]}, headers={"Content-Type": V2}, timeout=30)
        requests.get(uri + "/records?timeout=2000", headers={"Accept": B}, timeout=30)
        return 200
    t0 = time.time()
    with ThreadPoolExecutor(16) as ex: codes = list(ex.map(one, range(N)))
    print("created", codes.count(200), "of", N, "in", round(time.time() - t0, 1), "s; RSS now", rss(), "peak", peak[0], "MB", flush=True)
    time.sleep(70)
    stop[0] = True
    print("RSS 60+ s after expiry", rss(), "MB; peak", peak[0], "MB", flush=True)
finally:
    proxy.terminate(); tansu.terminate()
    try: proxy.wait(10)
    except Exception: proxy.kill()
    tansu.wait(10)
