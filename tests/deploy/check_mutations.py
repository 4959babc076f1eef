#!/usr/bin/python3
"""Proves that each deploy check can fail: copies deploy/, schemas/ and what the Dockerfile
copies into a temporary root,
breaks one thing at a time and expects check_deploy.py to fail naming it.

  check_mutations.py --root REPO --bin BUILD/bin
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# (check, file, old, new, expected part of a FAIL line)
MUTATIONS = [
    ("compose", "deploy/compose/compose.yaml", 'DUNNING_BATCH_MAX: "500"', 'DUNNING_BATCH_MAXX: "500"',
     "sets DUNNING_BATCH_MAXX, which dunning-engine does not read"),
    ("compose", "deploy/compose/compose.yaml", "      DUNNING_HTTP_ADDR: 0.0.0.0:9465\n",
     "      DUNNING_HTTP_ADDR: 0.0.0.0:9465\n      DUNNING_TIMER_KEY: x\n",
     "sets DUNNING_TIMER_KEY, which sender-email does not read"),
    ("compose", "deploy/compose/compose.yaml", "http://127.0.0.1:9465/readyz", "http://127.0.0.1:9464/readyz",
     "health check on port 9464, but DUNNING_HTTP_ADDR listens on 9465"),
    ("compose", "deploy/compose/compose.yaml", "http://127.0.0.1:9464/readyz", "http://127.0.0.1:9464/healthz",
     "health check on /healthz, not /readyz"),
    ("compose", "deploy/compose/compose.yaml", "image: postgres:15-bookworm", "image: bitnami/postgresql:15",
     "is neither the project's nor a named official one"),
    ("compose", "deploy/compose/example.env", "POSTGRES_ADMIN_PASSWORD=change-me-admin\n", "",
     "${POSTGRES_ADMIN_PASSWORD} is neither in example.env nor has a default"),
    ("compose", "deploy/compose/compose.yaml", "replicas: 2", "replicas: 1", "1 engine instances, not 2"),
    ("compose", "deploy/compose/compose.yaml", "- letter-spool:/var/spool/dunning", "- letter-spol:/var/spool/dunning",
     "mounts volume letter-spol, which is not declared"),
    ("compose", "deploy/compose/compose.yaml", "./kannel.conf.in:/etc/kannel/dunning.conf.in:ro\n    depends_on",
     "./kannel.conf:/etc/kannel/dunning.conf.in:ro\n    depends_on", "mounts ./kannel.conf, which does not exist"),
    ("compose", "deploy/compose/compose.yaml", 'command: ["dunningctl", "migrate"]', 'command: ["dunningctl", "help"]',
     "no migration job"),
    ("compose", "deploy/compose/postgres-init.sh", "CREATE ROLE dunning_reader NOLOGIN;\n", "",
     "does not create role dunning_reader"),
    ("k8s", "deploy/k8s/engine.yaml", "httpGet: {path: /readyz, port: http}", "httpGet: {path: /ready, port: http}",
     "readinessProbe path /ready, not /readyz"),
    ("k8s", "deploy/k8s/engine.yaml", "httpGet: {path: /healthz, port: http}", "httpGet: {path: /healthz, port: 9474}",
     "livenessProbe on port 9474, but DUNNING_HTTP_ADDR listens on 9464"),
    ("k8s", "deploy/k8s/engine.yaml", "containerPort: 9464", "containerPort: 9474",
     "DUNNING_HTTP_ADDR listens on 9464, which is not a containerPort"),
    ("k8s", "deploy/k8s/engine.yaml", 'prometheus.io/port: "9464"', 'prometheus.io/port: "9090"',
     "Prometheus annotations do not say"),
    ("k8s", "deploy/k8s/senders.yaml", "secretRef: {name: dunning-smtp}", "secretRef: {name: dunning-mail}",
     "envFrom: Secret dunning-mail does not exist"),
    ("k8s", "deploy/k8s/config.yaml", "DUNNING_LOG_LEVEL: info", "DUNNING_LOGLEVEL: info",
     "sets DUNNING_LOGLEVEL, which dunning-engine does not read"),
    ("k8s", "deploy/k8s/secrets.example.yaml", "DUNNING_REDIS_URL: redis://", "DUNNING_REDIS: redis://",
     "sets DUNNING_REDIS, which dunning-engine does not read"),
    ("k8s", "deploy/k8s/engine.yaml", "requests: {cpu: 100m, memory: 64Mi}", "requests: {memory: 64Mi}",
     "no cpu and memory requests"),
    ("k8s", "deploy/k8s/engine.yaml", "  minAvailable: 1\n  selector:\n    matchLabels: {app.kubernetes.io/name: dunning-engine}",
     "  minAvailable: 1\n  selector:\n    matchLabels: {app.kubernetes.io/name: dunning-engin}",
     "selects no Deployment's pods"),
    ("k8s", "deploy/k8s/senders.yaml", "claimName: dunning-letter-spool", "claimName: spool",
     "claim spool does not exist"),
    ("k8s", "deploy/k8s/engine.yaml", "configMap: {name: dunning-policies}", "configMap: {name: dunning-policy}",
     "ConfigMap dunning-policy does not exist"),
    ("k8s", "deploy/k8s/jobs.yaml", 'command: ["dunningctl", "topics", "create"]', 'command: ["dunningctl", "topics"]',
     "no Job runs dunningctl topics create"),
    ("k8s", "deploy/k8s/engine.yaml", "  replicas: 2", "  replicas: 1", "dunning-engine does not run at least 2"),
    ("k8s", "deploy/k8s/engine.yaml", "kind: Deployment\nmetadata:", "kind: Deployment\nmetadata: [", "cannot check"),
    ("dockerfile", "deploy/Dockerfile", "USER 10001:10001", "USER root", "the runtime stage runs as root"),
    ("dockerfile", "deploy/Dockerfile", "FROM debian:12-slim AS runtime", "FROM ubuntu:24.04 AS runtime",
     "stage runtime is not built on debian:12"),
    ("dockerfile", "deploy/Dockerfile", "DUNNING_LETTER_SPOOL_DIR=", "DUNNING_SPOOL_DIR=",
     "ENV DUNNING_SPOOL_DIR is read by no program"),
    ("dockerfile", "deploy/Dockerfile", "RUN /src/scripts/deps", "RUN apt-get install -y cmake",
     "does not install with scripts/deps"),
    ("dockerfile", "deploy/Dockerfile", "/build/bin/sender-letter /build/bin/dunningctl", "/build/bin/dunningctl",
     "the runtime image lacks sender-letter"),
    ("dockerfile", "deploy/Dockerfile", "COPY --from=build /src/sql ", "COPY --from=build /src/migrations ",
     "copies /src/migrations, which is not in the repository"),
    ("topics", "deploy/topics.json", '"payment-failed", "partitions": 12', '"payment-failed", "partitions": 6',
     "do not share one partition count"),
    ("topics", "deploy/topics.json", '"name": "dead-letter"', '"name": "dead-letters"',
     "differ from schemas/registry.json"),
    ("topics", "deploy/topics.json", '"cleanup_policy": "delete"', '"cleanup_policy": "compact"',
     "compaction would drop events"),
    ("topics", "deploy/topics.json", '"case-commands", "partitions": 12, "retention_ms": 1209600000, "consumer": "dunning-engine"',
     '"case-commands", "partitions": 12, "retention_ms": 1209600000, "consumer": "ops"',
     "are not its inputs"),
    ("systemd-env", "deploy/systemd/env/engine.env", "DUNNING_BATCH_MAX=500", "DUNNING_SMTP_URL=smtp://x",
     "sets DUNNING_SMTP_URL, which dunning-engine does not read"),
    ("systemd-env", "deploy/systemd/sender-sms.service", "DUNNING_HTTP_ADDR=0.0.0.0:9467", "DUNNING_HTTP_ADDR=0.0.0.0:9465",
     "HTTP port 9465 is also"),
    ("systemd-env", "deploy/systemd/sender-sms.service", "ExecStart=/usr/local/bin/sender-sms",
     "ExecStart=/usr/local/bin/sender-sns", "ExecStart runs none of our programs"),
]
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--bin", required=True)
    a = ap.parse_args()
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for sub in ("deploy", "schemas", "scripts", "sql", "config"):
            shutil.copytree(os.path.join(a.root, sub), os.path.join(tmp, sub))
        for check, rel, old, new, expected in MUTATIONS:
            path = os.path.join(tmp, rel)
            orig = open(path).read()
            if orig.count(old) < 1:
                print("BROKEN MUTATION: '%s' is not in %s" % (old.splitlines()[0], rel))
                bad += 1
                continue
            open(path, "w").write(orig.replace(old, new, 1))
            r = subprocess.run([sys.executable, os.path.join(HERE, "check_deploy.py"), "--root", tmp, "--bin", a.bin,
                                check], capture_output=True, text=True)
            open(path, "w").write(orig)
            fails = [l for l in r.stdout.splitlines() if l.startswith("FAIL:")]
            if r.returncode == 1 and any(expected in l for l in fails):
                print("ok: %s: %s -> caught: %s" % (rel, new.strip().splitlines()[0] if new.strip() else "(removed)",
                                                    expected))
            else:
                print("NOT CAUGHT: %s: '%s' -> '%s' (status %d, expected '%s')\n%s%s" %
                      (rel, old.strip(), new.strip(), r.returncode, expected, r.stdout, r.stderr))
                bad += 1
        # The unbroken copy passes.
        r = subprocess.run([sys.executable, os.path.join(HERE, "check_deploy.py"), "--root", tmp, "--bin", a.bin],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print("the unbroken copy fails:\n" + r.stdout + r.stderr)
            bad += 1
    print("%d mutations, %d not caught" % (len(MUTATIONS), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
