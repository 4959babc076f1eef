#!/usr/bin/python3
"""Checks the deployment files of deploy/ against the code, without a container engine.

  check_deploy.py --root REPO --bin BUILD/bin [compose|k8s|dockerfile|topics|systemd-env ...]

Each named check (all when none is named) prints "ok: ..." lines and, for every problem,
"FAIL: file: what"; the exit status is 1 when anything failed.
- The services' configuration tables come from the programs themselves (`--config-doc`,
  `dunningctl config-doc`), so a variable set in a deployment file must be one the program
  it is set on reads (DUNNING_RDKAFKA_* passes through to librdkafka, for every program).
- compose: parses; images are the project's (dunning, dunning-kannel) or named official ones;
  every ${VAR} it interpolates is defined in example.env or has a default; DUNNING_* only on
  services that run one of our programs, and read by that program; health checks hit /readyz
  on the port of the service's DUNNING_HTTP_ADDR; depends_on, named volumes and bind-mounted
  files exist; Kafka runs in KRaft mode; two engine instances; the migration job.
- k8s: every document parses and has a kind; containers run the project image and one of our
  programs; DUNNING_* from env, ConfigMaps and Secrets (envFrom) is read by that program;
  referenced ConfigMaps, Secrets and claims exist (in the manifests or configmaps.sh); probes
  are /healthz (liveness) and /readyz (readiness) on the DUNNING_HTTP_ADDR port, which the
  container and the Prometheus annotations name too; resource requests are set; every
  PodDisruptionBudget selects a Deployment; the migration and topic Jobs exist.
- dockerfile: Debian 12 stages, a non-root runtime user, COPY sources that exist, ENV
  DUNNING_* read by some program, the binaries of every program.
- topics: deploy/topics.json names exactly the topics of schemas/registry.json; the engine's
  input topics share one partition count; no compaction (keys are per customer); and
  `dunningctl topics create --dry-run` turns the file into exactly those settings.
- systemd-env: the example environment files under deploy/systemd/env and the units'
  Environment= lines set only variables the unit's program reads; HTTP ports differ.
"""
import argparse
import json
import os
import re
import subprocess
import sys

import yaml

PROGRAMS = ["dunning-engine", "sender-email", "sender-sms", "sender-letter", "sender-voice", "dunning-portal",
            "dunning-console", "dunningctl"]
SERVICES = ["dunning-engine", "sender-email", "sender-sms", "sender-letter", "sender-voice", "dunning-portal",
            "dunning-console"]
SENDERS = ["sender-email", "sender-sms", "sender-letter", "sender-voice"]
# The variable whose host:port serves a service's /healthz and /readyz (and /metrics where it
# has one): DUNNING_HTTP_ADDR, but the portal answers them on its own address and has no
# DUNNING_HTTP_ADDR.
HEALTH_ADDR = {"dunning-portal": "DUNNING_PORTAL_ADDR", "dunning-console": "DUNNING_CONSOLE_ADDR"}
NO_METRICS = {"dunning-portal", "dunning-console"}  # no /metrics: they must not be scraped
# Directories a service writes, which must be a volume (compose, k8s) or ReadWritePaths (systemd).
DATA_DIRS = {"sender-letter": "DUNNING_LETTER_SPOOL_DIR", "sender-voice": "DUNNING_VOICE_AUDIO_DIR"}
# The PostgreSQL group role each program's login must be a member of (postgres-init.sh).
PG_GROUP = {"dunning-engine": "dunning_engine", "sender-email": "dunning_sender", "sender-sms": "dunning_sender",
            "sender-letter": "dunning_sender", "sender-voice": "dunning_sender", "dunning-portal": "dunning_portal",
            "dunning-console": "dunning_console"}
OFFICIAL = [r"^apache/kafka:[0-9][\w.-]*$", r"^postgres:1[5-9][\w.-]*$", r"^redis:[67][\w.-]*$"]
PROJECT = [r"^dunning:[\w.${}:-]+$", r"^dunning-kannel:[\w.${}:-]+$"]

failures = []


def fail(where, what):
    failures.append("%s: %s" % (where, what))
    print("FAIL: %s: %s" % (where, what))


def ok(what):
    print("ok: " + what)


def config_tables(bindir):
    """program -> {variable: default} from the programs' own configuration tables."""
    tables = {}
    for prog in PROGRAMS:
        args = [os.path.join(bindir, prog)] + (["config-doc"] if prog == "dunningctl" else ["--config-doc"])
        out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
        rows = re.findall(r"^\| `(DUNNING_[A-Z0-9_]+)` \| [a-z]+ \| `([^`]*)` \|", out, re.M)
        if not rows:
            raise SystemExit("no configuration table from %s" % prog)
        tables[prog] = {name: default for name, default in rows}
    return tables


def reads(tables, prog, var):
    if var.startswith("DUNNING_RDKAFKA_"):
        return bool(re.match(r"^DUNNING_RDKAFKA_((CONSUMER|PRODUCER)_)?[a-z][a-z0-9_]*$", var))
    return var in tables.get(prog, {})


def health_var(prog):
    return HEALTH_ADDR.get(prog, "DUNNING_HTTP_ADDR")


def health_addr(tables, prog, env):
    """(host, port) of the address prog answers /healthz and /readyz on, given its env."""
    var = health_var(prog)
    if var not in tables.get(prog, {}):
        fail(prog, "its configuration table has no %s (HEALTH_ADDR in check_deploy.py is out of date)" % var)
        return None, None
    addr = env.get(var, tables[prog].get(var))
    m = re.match(r"^(.*):(\d+)$", str(addr))
    return (m.group(1), int(m.group(2))) if m else (None, None)


def http_port(tables, prog, env):
    return health_addr(tables, prog, env)[1]


def under(path, dirs):
    """True when path is one of dirs or below one."""
    path = os.path.normpath(str(path))
    return any(path == os.path.normpath(d) or path.startswith(os.path.normpath(d) + "/") for d in dirs)


def program_of(command):
    if isinstance(command, str):
        command = command.split()
    if not command:
        return None
    prog = os.path.basename(str(command[0]))
    return prog if prog in PROGRAMS else None


def dsn_user(dsn):
    m = re.match(r"^postgres(?:ql)?://([^:@/]+)[:@]", str(dsn or ""))
    return m.group(1) if m else None


def check_policy_files(where, tables, runs, home):
    """runs: (name, program, env). Every program other than the engine that reads
    DUNNING_POLICY_FILE (sender-voice: the calling rules) must set it to the engines' file."""
    def engine_file(env):
        return env.get("DUNNING_POLICY_FILE") or \
            "%s/config/policies/default.yaml" % env.get("DUNNING_HOME", home)
    engines = {engine_file(env) for _, prog, env in runs if prog == "dunning-engine"}
    if len(engines) > 1:
        fail(where, "the engines read different policy files: %s" % ", ".join(sorted(engines)))
    for name, prog, env in runs:
        if prog in ("dunning-engine", "dunningctl") or "DUNNING_POLICY_FILE" not in tables.get(prog, {}):
            continue
        got = env.get("DUNNING_POLICY_FILE")
        if not got:
            fail("%s: %s" % (where, name), "DUNNING_POLICY_FILE is not set: %s would not see the policies' rules" % prog)
        elif engines and got not in engines:
            fail("%s: %s" % (where, name), "DUNNING_POLICY_FILE is %s, the engine's is %s" % (got, ", ".join(sorted(engines))))


# ---------------------------------------------------------------- compose
def check_compose(root, tables):
    d = os.path.join(root, "deploy", "compose")
    path = os.path.join(d, "compose.yaml")
    where = "deploy/compose/compose.yaml"
    text = open(path).read()
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        fail(where, "no services")
        return
    ok("%s parses (%d services)" % (where, len(doc["services"])))
    # Interpolated variables: defined in example.env, or with a default.
    defined = set()
    for line in open(os.path.join(d, "example.env")):
        m = re.match(r"^([A-Z_][A-Z0-9_]*)=", line)
        if m:
            defined.add(m.group(1))
    text_no_comments = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#"))
    for m in re.finditer(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+])?", text_no_comments):
        if m.group(1) not in defined and not (m.group(2) or "").endswith("-"):
            fail(where, "${%s} is neither in example.env nor has a default" % m.group(1))
    for name in defined:
        if not re.search(r"\$\{%s\b" % name, text_no_comments):
            fail("deploy/compose/example.env", "%s is set but compose.yaml does not use it" % name)
    services = doc["services"]
    volumes = set((doc.get("volumes") or {}).keys())
    programs, envs, logins = {}, {}, {}
    for name, svc in services.items():
        w = "%s: service %s" % (where, name)
        image = str(svc.get("image", ""))
        if not any(re.match(p, image) for p in PROJECT + OFFICIAL):
            fail(w, "image '%s' is neither the project's nor a named official one" % image)
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
        prog = program_of(svc.get("command")) if image.startswith("dunning:") else None
        if image.startswith("dunning:") and not prog:
            fail(w, "runs the project image without one of %s as its command" % ", ".join(PROGRAMS))
        programs[name] = prog
        for var in env:
            if var.startswith("DUNNING_"):
                if not prog:
                    fail(w, "sets %s but runs none of our programs" % var)
                elif not reads(tables, prog, var):
                    fail(w, "sets %s, which %s does not read" % (var, prog))
        for dep in (svc.get("depends_on") or {}):
            if dep not in services:
                fail(w, "depends on unknown service %s" % dep)
        for v in svc.get("volumes") or []:
            src = str(v).split(":")[0]
            if src.startswith("."):
                if not os.path.exists(os.path.join(d, src)):
                    fail(w, "mounts %s, which does not exist" % src)
            elif src not in volumes:
                fail(w, "mounts volume %s, which is not declared" % src)
        envs[name] = env
        if prog in SERVICES:
            hc = svc.get("healthcheck") or {}
            test = " ".join(map(str, hc.get("test") or []))
            m = re.search(r"http://127\.0\.0\.1:(\d+)(/\w+)", test)
            host, port = health_addr(tables, prog, env)
            var = health_var(prog)
            if not m:
                fail(w, "no HTTP health check")
            elif m.group(2) != "/readyz":
                fail(w, "health check on %s, not /readyz" % m.group(2))
            elif int(m.group(1)) != port:
                fail(w, "health check on port %s, but %s listens on %s" % (m.group(1), var, port))
            if var not in env or host not in ("0.0.0.0", "[::]"):
                fail(w, "%s is %s: in a container it must be set to 0.0.0.0:<port>" % (var, env.get(var, "not set")))
            for pub in svc.get("ports") or []:
                target = pub.get("target") if isinstance(pub, dict) else str(pub).split("/")[0].rsplit(":", 1)[-1]
                if str(target) != str(port):
                    fail(w, "publishes container port %s, but %s listens on %s" % (target, var, port))
        if prog in DATA_DIRS:
            var = DATA_DIRS[prog]
            mounts = [str(v).split(":")[1] for v in svc.get("volumes") or []
                      if not str(v).startswith(".") and ":" in str(v)]
            if not env.get(var):
                fail(w, "%s is not set (it writes there)" % var)
            elif not under(env[var], mounts):
                fail(w, "%s is %s, which is on no volume" % (var, env[var]))
        if prog in PG_GROUP:
            user = dsn_user(env.get("DUNNING_PG_DSN"))
            if not user:
                fail(w, "no DUNNING_PG_DSN with a user")
            else:
                logins[name] = (prog, user)
    ran = {p for p in programs.values() if p}
    for p in SERVICES:
        if p not in ran:
            fail(where, "no service runs %s" % p)
    engines = [n for n, p in programs.items() if p == "dunning-engine"]
    replicas = sum(int(((services[n].get("deploy") or {}).get("replicas")) or 1) for n in engines)
    if replicas != 2:
        fail(where, "%d engine instances, not 2" % replicas)
    jobs = [n for n, s in services.items() if programs[n] == "dunningctl" and
            " ".join(map(str, s.get("command"))).startswith("dunningctl migrate")]
    if not jobs:
        fail(where, "no migration job (dunningctl migrate)")
    kafka = [s for s in services.values() if str(s.get("image", "")).startswith("apache/kafka:")]
    if len(kafka) != 1 or "controller" not in str((kafka[0].get("environment") or {}).get("KAFKA_PROCESS_ROLES")):
        fail(where, "no Apache Kafka service in KRaft mode (KAFKA_PROCESS_ROLES with controller)")
    for needed in ("postgres:", "redis:"):
        svc = [s for s in services.values() if str(s.get("image", "")).startswith(needed)]
        if not svc or not any(not str(v).startswith(".") for v in svc[0].get("volumes") or []):
            fail(where, "no %s service with a volume" % needed.rstrip(":"))
    # The programs that read the engine's policy file read the engine's.
    check_policy_files(where, tables, [(n, programs[n], envs[n]) for n in services if programs[n]],
                       "/usr/share/dunning")
    # The owner that runs the migrations has no CREATEROLE here: every group role a migration
    # grants to must be created by postgres-init.sh.
    init = open(os.path.join(d, "postgres-init.sh")).read()
    created = set(re.findall(r"CREATE ROLE (\w+)", init))
    # Each service logs in as a role of its own kind: a LOGIN role in its group role.
    members = {m.group(1): m.group(2) for m in
               re.finditer(r"CREATE ROLE (\w+) LOGIN PASSWORD :'\w+' IN ROLE (\w+);", init)}
    for name, (prog, user) in sorted(logins.items()):
        if user not in members:
            fail("deploy/compose/postgres-init.sh", "does not create the LOGIN role %s (service %s logs in as it)" %
                 (user, name))
        elif members[user] != PG_GROUP[prog]:
            fail("deploy/compose/postgres-init.sh", "role %s (service %s, %s) is in %s, not %s" %
                 (user, name, prog, members[user], PG_GROUP[prog]))
    owner = re.search(r"CREATE DATABASE \w+ OWNER (\w+);", init)
    for n in jobs:
        if not owner or dsn_user(envs[n].get("DUNNING_PG_DSN")) != owner.group(1):
            fail(where, "service %s: the migrations do not run as the database owner" % n)
    sqldir = os.path.join(root, "sql")
    for f in sorted(os.listdir(sqldir)):
        if f.endswith(".sql"):
            for stmt in re.findall(r"GRANT [^;]*? TO ([\w, ]+);", open(os.path.join(sqldir, f)).read(), re.S):
                for role in re.split(r"[\s,]+", stmt.strip()):
                    if role and role not in created:
                        fail("deploy/compose/postgres-init.sh", "does not create role %s (sql/%s grants to it)" % (role, f))
    ok("%s: images, variables, health checks, volumes, jobs, database roles" % where)


# ---------------------------------------------------------------- k8s
def k8s_docs(root):
    d = os.path.join(root, "deploy", "k8s")
    docs = []
    for f in sorted(os.listdir(d)):
        if f.endswith(".yaml"):
            for i, doc in enumerate(yaml.safe_load_all(open(os.path.join(d, f)))):
                if doc is None:
                    continue
                w = "deploy/k8s/%s#%d" % (f, i)
                if not isinstance(doc, dict) or not doc.get("kind") or not doc.get("apiVersion") or \
                        not (doc.get("metadata") or {}).get("name"):
                    fail(w, "not a Kubernetes object (apiVersion, kind, metadata.name)")
                    continue
                docs.append((w, doc))
    return docs


def check_k8s(root, tables):
    docs = k8s_docs(root)
    ok("deploy/k8s parses (%d objects)" % len(docs))
    by_kind = {}
    for w, doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = (w, doc)
    configmaps = {n: set((doc.get("data") or {}).keys()) for n, (w, doc) in by_kind.get("ConfigMap", {}).items()}
    script = os.path.join(root, "deploy", "k8s", "configmaps.sh")
    for name in re.findall(r"create configmap (\S+)", open(script).read()):
        configmaps.setdefault(name, set())  # file contents, not variables
    secrets = {n: set((doc.get("stringData") or {}).keys()) | set((doc.get("data") or {}).keys())
               for n, (w, doc) in by_kind.get("Secret", {}).items()}
    claims = set(by_kind.get("PersistentVolumeClaim", {}).keys())
    run, pods = {}, []
    for kind in ("Deployment", "Job"):
        for name, (w, doc) in by_kind.get(kind, {}).items():
            pod = doc["spec"]["template"]
            spec = pod["spec"]
            ann = (pod.get("metadata") or {}).get("annotations") or {}
            vols = {v["name"]: v for v in spec.get("volumes") or []}
            for v in vols.values():
                if "configMap" in v and v["configMap"]["name"] not in configmaps:
                    fail(w, "volume %s: ConfigMap %s does not exist" % (v["name"], v["configMap"]["name"]))
                if "secret" in v and v["secret"]["secretName"] not in secrets:
                    fail(w, "volume %s: Secret %s does not exist" % (v["name"], v["secret"]["secretName"]))
                if "persistentVolumeClaim" in v and v["persistentVolumeClaim"]["claimName"] not in claims:
                    fail(w, "volume %s: claim %s does not exist" % (v["name"], v["persistentVolumeClaim"]["claimName"]))
            for c in spec["containers"]:
                cw = "%s container %s" % (w, c["name"])
                if not re.match(PROJECT[0], str(c.get("image"))):
                    fail(cw, "image %s is not the project image" % c.get("image"))
                prog = program_of(c.get("command"))
                if not prog:
                    fail(cw, "runs none of our programs")
                    continue
                run.setdefault(prog, []).append((kind, name, c))
                env = {}
                for e in c.get("env") or []:
                    env[e["name"]] = e.get("value")
                    ref = (e.get("valueFrom") or {})
                    if "secretKeyRef" in ref and ref["secretKeyRef"]["key"] not in secrets.get(ref["secretKeyRef"]["name"], ()):
                        fail(cw, "%s: no key %s in Secret %s" % (e["name"], ref["secretKeyRef"]["key"], ref["secretKeyRef"]["name"]))
                    if "configMapKeyRef" in ref and ref["configMapKeyRef"]["key"] not in configmaps.get(ref["configMapKeyRef"]["name"], ()):
                        fail(cw, "%s: no key %s in ConfigMap %s" % (e["name"], ref["configMapKeyRef"]["key"], ref["configMapKeyRef"]["name"]))
                for src in c.get("envFrom") or []:
                    if "configMapRef" in src:
                        n = src["configMapRef"]["name"]
                        if n not in configmaps:
                            fail(cw, "envFrom: ConfigMap %s does not exist" % n)
                        keys = configmaps.get(n, set())
                    else:
                        n = src["secretRef"]["name"]
                        if n not in secrets:
                            fail(cw, "envFrom: Secret %s does not exist" % n)
                        keys = secrets.get(n, set())
                    for k in keys:
                        env.setdefault(k, "(from %s)" % n)
                for var in env:
                    if var.startswith("DUNNING_") and not reads(tables, prog, var):
                        fail(cw, "sets %s, which %s does not read" % (var, prog))
                for m in c.get("volumeMounts") or []:
                    if m["name"] not in vols:
                        fail(cw, "mounts volume %s, which the pod does not define" % m["name"])
                req = (c.get("resources") or {}).get("requests") or {}
                if "cpu" not in req or "memory" not in req:
                    fail(cw, "no cpu and memory requests")
                mounts = {m["mountPath"]: vols.get(m["name"], {}) for m in c.get("volumeMounts") or []}
                if kind == "Deployment":
                    pods.append((name, prog, env, mounts))
                if prog in SERVICES:
                    host, port = health_addr(tables, prog, env)
                    var = health_var(prog)
                    ports = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
                    if port not in ports.values():
                        fail(cw, "%s listens on %s, which is not a containerPort" % (var, port))
                    if var not in env or host not in ("0.0.0.0", "[::]"):
                        fail(cw, "%s is %s: the kubelet probes the pod IP, set it to 0.0.0.0:<port>" %
                             (var, env.get(var, "not set")))
                    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                        g = ((c.get(probe) or {}).get("httpGet")) or {}
                        p = g.get("port")
                        p = ports.get(p, p) if isinstance(p, str) else p
                        if g.get("path") != path:
                            fail(cw, "%s path %s, not %s" % (probe, g.get("path"), path))
                        if p != port:
                            fail(cw, "%s on port %s, but %s listens on %s" % (probe, p, var, port))
                    if prog in NO_METRICS:
                        if ann.get("prometheus.io/scrape") == "true":
                            fail(w, "Prometheus scrapes %s, which has no /metrics" % prog)
                    elif ann.get("prometheus.io/scrape") != "true" or str(ann.get("prometheus.io/port")) != str(port) or \
                            ann.get("prometheus.io/path") != "/metrics":
                        fail(w, "Prometheus annotations do not say scrape true, port %s, path /metrics" % port)
                if prog in DATA_DIRS:
                    dvar = DATA_DIRS[prog]
                    claimed = [mp for mp, v in mounts.items() if "persistentVolumeClaim" in v]
                    if not env.get(dvar):
                        fail(cw, "%s is not set (it writes there)" % dvar)
                    elif not under(env[dvar], claimed):
                        fail(cw, "%s is %s, which is on no PersistentVolumeClaim" % (dvar, env[dvar]))
    for p in SERVICES:
        if not any(k == "Deployment" for k, _, _ in run.get(p, [])):
            fail("deploy/k8s", "no Deployment runs %s" % p)
    cmds = [" ".join(c["command"]) for k, _, c in run.get("dunningctl", []) if k == "Job"]
    for want in ("dunningctl migrate", "dunningctl topics create"):
        if not any(c.startswith(want) for c in cmds):
            fail("deploy/k8s", "no Job runs %s" % want)
    deployments = by_kind.get("Deployment", {})
    # The policy file: the same path, from the same ConfigMap, as the engines'.
    check_policy_files("deploy/k8s", tables, [(n, p, e) for n, p, e, _ in pods], "/usr/share/dunning")

    def policy_source(env, mounts):
        path = env.get("DUNNING_POLICY_FILE") or ""
        src = [(mp, (v.get("configMap") or {}).get("name")) for mp, v in mounts.items() if under(path, [mp])]
        return max(src)[1] if src else None
    engine_src = {policy_source(e, m) for _, p, e, m in pods if p == "dunning-engine"}
    for n, p, e, m in pods:
        if p not in ("dunning-engine", "dunningctl") and "DUNNING_POLICY_FILE" in tables.get(p, {}) and \
                e.get("DUNNING_POLICY_FILE") and policy_source(e, m) not in engine_src:
            fail("deploy/k8s: %s" % n, "DUNNING_POLICY_FILE is not mounted from the engine's ConfigMap (%s)" %
                 ", ".join(sorted(map(str, engine_src))))
    # Services select a Deployment's pods and target one of their ports; Ingresses route to a
    # Service's port.
    def pod_ports(sel):
        out = []
        for _, d in deployments.values():
            labels = d["spec"]["template"]["metadata"]["labels"]
            if sel and all(labels.get(k) == v for k, v in sel.items()):
                for c in d["spec"]["template"]["spec"]["containers"]:
                    out.append((program_of(c.get("command")),
                                {p.get("name"): p["containerPort"] for p in c.get("ports") or []}))
        return out
    services = by_kind.get("Service", {})
    exposes = {}
    for name, (w, doc) in services.items():
        pp = pod_ports(doc["spec"].get("selector"))
        if not pp:
            fail(w, "selects no Deployment's pods")
            continue
        for sp in doc["spec"].get("ports") or []:
            t = sp.get("targetPort", sp.get("port"))
            hit = [prog for prog, ports in pp if (t in ports if isinstance(t, str) else t in ports.values())]
            if not hit:
                fail(w, "port %s: targetPort %s is no containerPort of the pods it selects" % (sp.get("port"), t))
            for prog, ports in pp:
                target = (prog, ports.get(t, t) if isinstance(t, str) else t)
                for key in (sp.get("name"), sp.get("port")):
                    if key is not None:
                        exposes.setdefault(name, {})[key] = target
    portal_paths = []
    for name, (w, doc) in by_kind.get("Ingress", {}).items():
        for rule in doc["spec"].get("rules") or []:
            for path in ((rule.get("http") or {}).get("paths")) or []:
                svc = path["backend"]["service"]
                port = svc["port"].get("name", svc["port"].get("number"))
                if svc["name"] not in services:
                    fail(w, "path %s: Service %s does not exist" % (path.get("path"), svc["name"]))
                elif port not in exposes.get(svc["name"], {}):
                    fail(w, "path %s: Service %s has no port %s" % (path.get("path"), svc["name"], port))
                else:
                    prog = exposes[svc["name"]][port][0]
                    if prog != "dunning-portal":
                        fail(w, "path %s: routes to %s; only the portal faces the internet" % (path.get("path"), prog))
                    else:
                        portal_paths.append((w, path.get("path"), path.get("pathType")))
    # The internet reaches the portal's page, API and files, never its /healthz and /readyz
    # (readiness says why the database does not answer).
    def routed(url):
        return any(url == p or (t == "Prefix" and (p == "/" or url.startswith(p.rstrip("/") + "/")))
                   for _, p, t in portal_paths)
    if portal_paths:
        w = portal_paths[0][0]
        for url in ("/healthz", "/readyz"):
            if routed(url):
                fail(w, "routes %s of the portal to the internet" % url)
        webdir = os.path.join(root, "services", "portal", "web")
        files = ["/" + f for f in sorted(os.listdir(webdir)) if f != "index.html"] if os.path.isdir(webdir) else []
        for url in ["/p/TOKEN", "/api/p/TOKEN"] + files:
            if not routed(url):
                fail(w, "does not route %s to the portal" % url)
    if not any(prog == "dunning-portal" for v in exposes.values() for prog, _ in v.values()):
        fail("deploy/k8s", "no Service exposes the portal (dunning-portal)")
    for name, (w, doc) in by_kind.get("PodDisruptionBudget", {}).items():
        sel = doc["spec"]["selector"]["matchLabels"]
        if not any(all(d["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items())
                   for _, d in deployments.values()):
            fail(w, "selects no Deployment's pods")
    for name, (w, doc) in deployments.items():
        labels = doc["spec"]["template"]["metadata"]["labels"]
        sel = doc["spec"]["selector"]["matchLabels"]
        if any(labels.get(k) != v for k, v in sel.items()):
            fail(w, "the selector does not match the pod labels")
        if not any(all(labels.get(k) == v for k, v in p["spec"]["selector"]["matchLabels"].items())
                   for _, p in by_kind.get("PodDisruptionBudget", {}).values()):
            fail(w, "no PodDisruptionBudget")
    eng = deployments.get("dunning-engine")
    if not eng or eng[1]["spec"].get("replicas", 1) < 2:
        fail("deploy/k8s", "dunning-engine does not run at least 2 replicas")
    ok("deploy/k8s: images, programs, variables, references, probes, ports, annotations, requests, budgets, jobs")


# ---------------------------------------------------------------- Dockerfile
_PKG_CACHE = {}


def lib_packages(bindir, prog):
    """{soname: Debian package} of the libraries prog links directly (readelf NEEDED, located by
    ldd, owned per dpkg), or None where dpkg or binutils are missing."""
    path = os.path.join(bindir, prog)
    try:
        needed = re.findall(r"\(NEEDED\).*\[(.+)\]", subprocess.run(["readelf", "-d", path], capture_output=True,
                                                                     text=True, check=True).stdout)
        where = dict(re.findall(r"^\s*(\S+) => (/\S+)", subprocess.run(["ldd", path], capture_output=True,
                                                                       text=True, check=True).stdout, re.M))
    except (OSError, subprocess.CalledProcessError):
        return None
    out = {}
    for so in needed:
        # A test build's sanitizer runtimes (scripts/test builds with ASan/UBSan); the image
        # is built without them (-DCMAKE_BUILD_TYPE=RelWithDebInfo in the build stage).
        if re.match(r"lib(asan|ubsan|tsan|lsan)\.so", so):
            continue
        lib = where.get(so)
        if lib in _PKG_CACHE:
            out[so] = _PKG_CACHE[lib]
            continue
        pkg = None
        for cand in filter(None, [lib, lib and os.path.realpath(lib), lib and re.sub(r"^/usr/lib/", "/lib/", lib),
                                  lib and re.sub(r"^/lib/", "/usr/lib/", lib)]):
            r = subprocess.run(["dpkg-query", "-S", cand], capture_output=True, text=True)
            if r.returncode == 0:
                pkg = r.stdout.split(":")[0].strip()
                break
        out[so] = _PKG_CACHE[lib] = pkg
    return out


# What debian:12-slim has already (libc and the libraries of apt and the essential packages).
BASE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}


def check_dockerfile(root, tables, bindir):
    where = "deploy/Dockerfile"
    lines = []
    for raw in open(os.path.join(root, where)).read().replace("\\\n", " ").splitlines():
        if raw.strip() and not raw.lstrip().startswith("#"):
            lines.append(raw.strip())
    stages, user, stage = [], {}, None
    installed, envs, copies = set(), {}, []
    for l in lines:
        op, _, rest = l.partition(" ")
        op = op.upper()
        if op == "FROM":
            m = re.match(r"^(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            stage = m.group(2) or m.group(1)
            stages.append(stage)
            if m.group(1) not in stages[:-1] and not re.match(r"^debian:12(-slim)?$", m.group(1)):
                fail(where, "stage %s is not built on debian:12 (%s)" % (stage, m.group(1)))
        elif op == "USER":
            user[stage] = rest.split(":")[0]
        elif op == "COPY" and "--from" not in rest:
            for src in rest.split()[:-1]:
                if not os.path.exists(os.path.join(root, src)):
                    fail(where, "COPY %s: no such file" % src)
        elif op == "COPY":
            if stage == "runtime":
                copies.append(rest.split()[1:])
                for src in re.findall(r"/build/bin/(\S+)", rest):
                    if src not in PROGRAMS:
                        fail(where, "copies %s, not a program" % src)
                for src in re.findall(r"/src/(\S+)", rest):
                    if not os.path.exists(os.path.join(root, src)):
                        fail(where, "copies /src/%s, which is not in the repository" % src)
        elif op == "ENV":
            for var, val in re.findall(r"(DUNNING_[A-Z0-9_]+)=(\S*)", rest):
                if not any(reads(tables, p, var) for p in PROGRAMS):
                    fail(where, "ENV %s is read by no program" % var)
                if stage == "runtime":
                    envs[var] = val
        elif op == "RUN" and stage != "runtime" and "scripts/deps" in rest:
            user.setdefault("deps", True)
        elif op == "RUN" and stage == "runtime":
            for cmd in re.findall(r"apt-get install ([^&|;]*)", rest):
                installed |= {w for w in cmd.split() if not w.startswith("-")}
    if "runtime" not in stages:
        fail(where, "no runtime stage")
    if user.get("runtime") in (None, "root", "0"):
        fail(where, "the runtime stage runs as root")
    if not user.get("deps"):
        fail(where, "the build stage does not install with scripts/deps")
    text = " ".join(lines)
    for p in PROGRAMS:
        if "/build/bin/%s" % p not in text:
            fail(where, "the runtime image lacks %s" % p)
    # The portal serves $DUNNING_HOME/services/portal/web: the image must have it there.
    home = envs.get("DUNNING_HOME")
    if not home:
        fail(where, "the runtime stage sets no DUNNING_HOME")
    elif not any(len(c) == 2 and c[0].rstrip("/") == "/src/services/portal/web" and
                 os.path.normpath(c[1]) == os.path.normpath(home + "/services/portal/web") for c in copies):
        fail(where, "the portal's web files (services/portal/web) are not copied to $DUNNING_HOME/services/portal/web")
    # The runtime stage installs the package of every library a program links (the base image
    # has only the required ones), and the speech data sender-voice needs.
    deps = {p: lib_packages(bindir, p) for p in PROGRAMS}
    if any(v is None for v in deps.values()):
        fail(where, "cannot check the runtime libraries: readelf, ldd or dpkg-query is missing (scripts/deps)")
    else:
        for p in PROGRAMS:
            for so, pkg in sorted(deps[p].items()):
                if not pkg:
                    fail(where, "%s links %s, which belongs to no Debian package here" % (p, so))
                elif pkg not in installed and pkg not in BASE_PACKAGES:
                    fail(where, "%s links %s, but the runtime stage does not install %s" % (p, so, pkg))
        if "espeak-ng-data" not in installed:
            fail(where, "the runtime stage does not install espeak-ng-data (sender-voice's voices)")
    ok("%s: Debian 12 stages, scripts/deps, non-root runtime, sources, variables, libraries, portal web files" % where)


# ---------------------------------------------------------------- topics
def check_topics(root, tables, bindir):
    where = "deploy/topics.json"
    spec = json.load(open(os.path.join(root, where)))
    reg = json.load(open(os.path.join(root, "schemas", "registry.json")))
    names = [t["name"] for t in spec["topics"]]
    reg_names = [t["name"] for t in reg["topics"]]
    if sorted(names) != sorted(reg_names) or len(set(names)) != len(names):
        fail(where, "topics %s differ from schemas/registry.json's %s" % (sorted(names), sorted(reg_names)))
    defaults = spec.get("defaults", {})
    engine_in = {t["name"] for t in reg["topics"] if t["direction"] == "in"} | {"reminder-outcomes"}
    parts = {t["name"]: t.get("partitions") for t in spec["topics"]}
    consumed = {t["name"] for t in spec["topics"] if t.get("consumer") == "dunning-engine"}
    if consumed != engine_in:
        fail(where, "the topics marked as the engine's (%s) are not its inputs (%s)" % (sorted(consumed), sorted(engine_in)))
    counts = {parts.get(n) for n in engine_in}
    if len(counts) != 1:
        fail(where, "the engine's input topics do not share one partition count: %s" %
             {n: parts.get(n) for n in sorted(engine_in)})
    for t in spec["topics"]:
        policy = t.get("cleanup_policy", defaults.get("cleanup_policy"))
        if policy != "delete":
            fail(where, "%s: cleanup.policy %s; keys are tenant/customer, compaction would drop events" % (t["name"], policy))
        if not isinstance(t.get("retention_ms", defaults.get("retention_ms")), int):
            fail(where, "%s: no retention_ms" % t["name"])
    # The C reader turns the file into exactly these settings.
    env = dict(os.environ, DUNNING_HOME=root, DUNNING_TOPIC_PREFIX="", DUNNING_KAFKA_BROKERS="kafka:9092")
    r = subprocess.run([os.path.join(bindir, "dunningctl"), "topics", "create", "--dry-run", "--file",
                        os.path.join(root, where)], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        fail(where, "dunningctl topics create --dry-run refused it: %s" % r.stderr.strip())
        return
    got = {}
    for line in r.stdout.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^kafka-topics\.sh --bootstrap-server kafka:9092 --create --if-not-exists --topic (\S+) "
                     r"--partitions (\d+) --replication-factor (\d+) --config cleanup\.policy=(\S+) "
                     r"--config retention\.ms=(-?\d+) --config min\.insync\.replicas=(\d+)$", line)
        if not m:
            fail(where, "unexpected dry-run line: %s" % line)
            continue
        got[m.group(1)] = (int(m.group(2)), int(m.group(3)), m.group(4), int(m.group(5)), int(m.group(6)))
    for t in spec["topics"]:
        want = (t["partitions"], t.get("replication_factor", defaults.get("replication_factor")),
                t.get("cleanup_policy", defaults.get("cleanup_policy")),
                t.get("retention_ms", defaults.get("retention_ms")),
                min(t.get("min_insync_replicas", defaults.get("min_insync_replicas")),
                    t.get("replication_factor", defaults.get("replication_factor"))))
        if got.get(t["name"]) != want:
            fail(where, "%s: dunningctl would create %s, the file says %s" % (t["name"], got.get(t["name"]), want))
    if len(got) != len(reg_names):
        fail(where, "dunningctl printed %d topics, the registry has %d" % (len(got), len(reg_names)))
    ok("%s: the registry's %d topics, shared engine partitions, no compaction, dunningctl agrees" % (where, len(names)))


# ---------------------------------------------------------------- systemd environment
def check_systemd_env(root, tables):
    d = os.path.join(root, "deploy", "systemd")
    ports, runs = {}, []
    tmpfiles = open(os.path.join(d, "dunning.tmpfiles.conf")).read().splitlines()
    for unit in sorted(os.listdir(d)):
        if not unit.endswith(".service"):
            continue
        w = "deploy/systemd/" + unit
        text = open(os.path.join(d, unit)).read()
        m = re.search(r"^ExecStart=(\S+)", text, re.M)
        prog = program_of(m.group(1)) if m else None
        if not prog:
            fail(w, "ExecStart runs none of our programs")
            continue
        env = {}
        for f in re.findall(r"^EnvironmentFile=-?(\S+)", text, re.M):
            example = os.path.join(d, "env", os.path.basename(f))
            if not os.path.exists(example):
                fail(w, "EnvironmentFile %s has no example in deploy/systemd/env" % f)
                continue
            for line in open(example):
                mm = re.match(r"^([A-Z_][A-Z0-9_]*)=(.*)$", line.strip())
                if mm:
                    env[mm.group(1)] = mm.group(2)
        for mm in re.finditer(r"^Environment=([A-Z_][A-Z0-9_]*)=(\S*)", text, re.M):
            env[mm.group(1)] = mm.group(2)
        for var in env:
            if var.startswith("DUNNING_") and not reads(tables, prog, var):
                fail(w, "sets %s, which %s does not read" % (var, prog))
        if prog in SERVICES:
            var = health_var(prog)
            addr = env.get(var, "")
            port = addr.rsplit(":", 1)[-1]
            if port != "%i" and not port.isdigit():
                fail(w, "no %s port" % var)
            if port in ports:
                fail(w, "HTTP port %s is also %s's" % (port, ports[port]))
            ports[port] = unit
            runs.append((unit, prog, env))
        if prog in DATA_DIRS:
            dvar = DATA_DIRS[prog]
            rw = [p for l in re.findall(r"^ReadWritePaths=(.*)$", text, re.M) for p in l.split()]
            if not env.get(dvar):
                fail(w, "%s is not set (it writes there)" % dvar)
            elif not under(env[dvar], [p.lstrip("-") for p in rw]):
                fail(w, "%s is %s, which ProtectSystem=strict leaves read-only (no ReadWritePaths)" % (dvar, env[dvar]))
            elif not any(re.match(r"^d\s+%s\s" % re.escape(os.path.normpath(env[dvar])), l) for l in tmpfiles):
                fail(w, "%s (%s) is not created by dunning.tmpfiles.conf" % (dvar, env[dvar]))
    check_policy_files("deploy/systemd", tables, runs, "/usr/share/dunning")
    ok("deploy/systemd: the units' environment files set only variables their programs read")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("checks", nargs="*")
    a = ap.parse_args()
    tables = config_tables(a.bin)
    checks = {
        "compose": lambda: check_compose(a.root, tables),
        "k8s": lambda: check_k8s(a.root, tables),
        "dockerfile": lambda: check_dockerfile(a.root, tables, a.bin),
        "topics": lambda: check_topics(a.root, tables, a.bin),
        "systemd-env": lambda: check_systemd_env(a.root, tables),
    }
    for name in a.checks or checks:
        try:
            checks[name]()
        except (KeyError, TypeError, AttributeError, ValueError, yaml.YAMLError, OSError) as e:
            fail(name, "cannot check: %s: %s" % (type(e).__name__, e))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
