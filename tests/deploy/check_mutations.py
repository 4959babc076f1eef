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
    # sender-voice and the portal
    ("compose", "deploy/compose/compose.yaml", "http://127.0.0.1:8090/readyz", "http://127.0.0.1:9468/readyz",
     "health check on port 9468, but DUNNING_PORTAL_ADDR listens on 8090"),
    ("compose", "deploy/compose/compose.yaml", "DUNNING_PORTAL_ADDR: 0.0.0.0:8090", "DUNNING_PORTAL_ADDR: 127.0.0.1:8090",
     "DUNNING_PORTAL_ADDR is 127.0.0.1:8090: in a container it must be set to 0.0.0.0:<port>"),
    ("compose", "deploy/compose/compose.yaml", '"127.0.0.1:8090:8090"', '"127.0.0.1:8090:8091"',
     "publishes container port 8091, but DUNNING_PORTAL_ADDR listens on 8090"),
    ("compose", "deploy/compose/compose.yaml", "      DUNNING_PORTAL_ADDR: 0.0.0.0:8090\n",
     "      DUNNING_PORTAL_ADDR: 0.0.0.0:8090\n      DUNNING_HTTP_ADDR: 0.0.0.0:9469\n",
     "sets DUNNING_HTTP_ADDR, which dunning-portal does not read"),
    ("compose", "deploy/compose/compose.yaml", "postgresql://portal:", "postgresql://sender:",
     "role sender (service portal, dunning-portal) is in dunning_sender, not dunning_portal"),
    ("compose", "deploy/compose/postgres-init.sh", "CREATE ROLE portal LOGIN PASSWORD :'portal_pw' IN ROLE dunning_portal;\n", "",
     "does not create the LOGIN role portal"),
    ("compose", "deploy/compose/compose.yaml", "      - voice-audio:/var/lib/dunning/voice\n", "",
     "DUNNING_VOICE_AUDIO_DIR is /var/lib/dunning/voice, which is on no volume"),
    ("compose", "deploy/compose/compose.yaml", "      DUNNING_POLICY_FILE: *policy-file\n", "",
     "DUNNING_POLICY_FILE is not set: sender-voice would not see"),
    ("compose", "deploy/compose/compose.yaml", 'command: ["dunning-portal"]', 'command: ["dunning-portl"]',
     "runs the project image without one of"),
    ("k8s", "deploy/k8s/portal.yaml", '- {name: DUNNING_PORTAL_ADDR, value: "0.0.0.0:8090"}',
     '- {name: DUNNING_PORTAL_ADDR, value: "0.0.0.0:8091"}',
     "DUNNING_PORTAL_ADDR listens on 8091, which is not a containerPort"),
    ("k8s", "deploy/k8s/portal.yaml", "    spec:\n      terminationGracePeriodSeconds: 30\n",
     "      annotations: {prometheus.io/scrape: \"true\"}\n    spec:\n      terminationGracePeriodSeconds: 30\n",
     "Prometheus scrapes dunning-portal, which has no /metrics"),
    ("k8s", "deploy/k8s/portal.yaml", "targetPort: http", "targetPort: web",
     "targetPort web is no containerPort"),
    ("k8s", "deploy/k8s/portal-ingress.example.yaml", "{path: /p/, pathType: Prefix", "{path: /, pathType: Prefix",
     "routes /healthz of the portal to the internet"),
    ("k8s", "deploy/k8s/portal-ingress.example.yaml", "          - {path: /portal.css, pathType: Exact, backend: {service: {name: dunning-portal, port: {name: http}}}}\n",
     "", "does not route /portal.css to the portal"),
    ("k8s", "deploy/k8s/portal-ingress.example.yaml", "service: {name: dunning-portal, port: {name: http}}}}\n          - {path: /api/p/",
     "service: {name: dunning-portl, port: {name: http}}}}\n          - {path: /api/p/", "Service dunning-portl does not exist"),
    ("k8s", "deploy/k8s/senders.yaml", "mountPath: /var/lib/dunning/voice}", "mountPath: /var/lib/dunning/audio}",
     "DUNNING_VOICE_AUDIO_DIR is /var/lib/dunning/voice, which is on no PersistentVolumeClaim"),
    ("k8s", "deploy/k8s/senders.yaml", "- {name: DUNNING_POLICY_FILE, value: /etc/dunning/policies/default.yaml}",
     "- {name: DUNNING_POLICY_FILE, value: /etc/dunning/templates/default/default.yaml}",
     "DUNNING_POLICY_FILE is /etc/dunning/templates/default/default.yaml, the engine's is"),
    ("k8s", "deploy/k8s/portal.yaml", "key: DUNNING_PORTAL_KEYS}", "key: KEYS}", "no key KEYS in Secret dunning-portal-links"),
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
    ("dockerfile", "deploy/Dockerfile", "/build/bin/sender-letter /build/bin/sender-voice", "/build/bin/sender-letter",
     "the runtime image lacks sender-voice"),
    ("dockerfile", "deploy/Dockerfile", "/build/bin/dunning-portal /build/bin/dunningctl", "/build/bin/dunningctl",
     "the runtime image lacks dunning-portal"),
    ("dockerfile", "deploy/Dockerfile", "COPY --from=build /src/services/portal/web /usr/share/dunning/services/portal/web",
     "COPY --from=build /src/services/portal/web /usr/share/dunning/web",
     "the portal's web files (services/portal/web) are not copied to $DUNNING_HOME/services/portal/web"),
    ("dockerfile", "deploy/Dockerfile", "libsodium23 libre0", "libre0",
     "sender-email links libsodium.so.23, but the runtime stage does not install libsodium23"),
    ("dockerfile", "deploy/Dockerfile", " libspandsp2 ", " ",
     "sender-voice links libspandsp.so.2, but the runtime stage does not install libspandsp2"),
    ("dockerfile", "deploy/Dockerfile", " espeak-ng-data ", " ", "does not install espeak-ng-data"),
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
    ("systemd-env", "deploy/systemd/dunning-portal.service", "Environment=DUNNING_PORTAL_ADDR=127.0.0.1:8090",
     "Environment=DUNNING_PORTAL_ADDR=127.0.0.1:9468", "HTTP port 9468 is also"),
    ("systemd-env", "deploy/systemd/sender-voice.service", "ReadWritePaths=/var/lib/dunning/voice\n", "",
     "which ProtectSystem=strict leaves read-only"),
    ("systemd-env", "deploy/systemd/dunning.tmpfiles.conf", "d /var/lib/dunning/voice 0750 dunning dunning -\n", "",
     "is not created by dunning.tmpfiles.conf"),
    ("systemd-env", "deploy/systemd/env/voice.env", "DUNNING_POLICY_FILE=/etc/dunning/policies/default.yaml",
     "DUNNING_POLICY_FILE=/etc/dunning/policies/voice.yaml", "the engine's is /etc/dunning/policies/default.yaml"),
    ("systemd-env", "deploy/systemd/env/portal-links.env", "DUNNING_PORTAL_URL=", "DUNNING_PORTAL_LINK=",
     "sets DUNNING_PORTAL_LINK, which sender-email does not read"),
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
        for sub in ("deploy", "schemas", "scripts", "sql", "config", "services/portal/web", "services/console/web"):
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
