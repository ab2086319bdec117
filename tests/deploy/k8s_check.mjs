// Checks rendered kustomize output offline (tests/deploy/k8s_test.sh runs it):
//  1. every object validates against the Kubernetes API schemas: the JSON schemas
//     compiled into kubernetes-models (types, required fields, enums, formats) and,
//     because those accept unknown fields, the same models' TypeScript declarations
//     with the compiler's excess-property check, so an unknown or misspelt field
//     anywhere in an object is an error;
//  2. the deployment checklist of issue 8 on every overlay (probes, resources,
//     restricted security, pinned images, PDB/HPA/NetworkPolicy per service, the
//     call graph in the NetworkPolicies, databases and Secrets, scraping, dashboards)
//     and of the transport security: TLS and token Secrets mounted and configured,
//     exec probes through kefuctl over TLS, mutual TLS in prod, certificates and keys
//     that fit together and name every address a service dials, the services' own
//     token key pair apart from the staff tokens' key, whose private half (the
//     identity provider's) is in no Secret.
//
//   node k8s_check.mjs --node-modules DIR --work DIR --src REPO --tree COPY
//        [--overlay NAME=rendered.yaml]... [--component NAME=rendered.yaml]...
import { createRequire } from "node:module";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

const args = { overlay: [], component: [] };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, "");
  const value = process.argv[i + 1];
  if (Array.isArray(args[key])) args[key].push(value);
  else args[key] = value;
}
for (const k of ["node-modules", "work", "src", "tree"]) {
  if (!args[k]) throw new Error(`missing --${k}`);
}
const require = createRequire(path.join(path.resolve(args["node-modules"]), "index.js"));
const YAML = require("yaml");
const ts = require("typescript");

// ---- what the system is (README "Who calls whom", "Configuration") ----
const SERVICES = {
  customers: { grpc: 50051, metrics: 9101, calls: ["complaints", "contracts", "sales", "performance"] },
  sales: { grpc: 50052, metrics: 9102, calls: ["customers", "contracts"] },
  contracts: { grpc: 50053, metrics: 9103, calls: ["customers"] },
  complaints: { grpc: 50054, metrics: 9104, calls: ["customers", "contracts", "performance"] },
  performance: { grpc: 50055, metrics: 9105, calls: ["customers", "contracts", "complaints"] },
};
const callersOf = (svc) => Object.keys(SERVICES).filter((c) => SERVICES[c].calls.includes(svc)).sort();
const API_CLIENTS = "ns:kefu.io/api-client=true";
const MONITORING = "ns:kubernetes.io/metadata.name=monitoring";
const DNS = "ns:kubernetes.io/metadata.name=kube-system+pod:k8s-app=kube-dns";
// Transport security (k8s/README.md "Secrets"): which key of which generated Secret
// each KEFU_*_FILE variable must name, and the probes' client in every image. Staff
// tokens are verified with the identity provider's public key (jwt-public.pem); the
// services sign and verify their own tokens with a key pair of their own.
const SECURITY_FILES = {
  KEFU_TLS_CERT_FILE: ["kefu-tls", "service.pem"],
  KEFU_TLS_KEY_FILE: ["kefu-tls", "service-key.pem"],
  KEFU_TLS_CA_FILE: ["kefu-tls", "ca.pem"],
  KEFU_JWT_PUBLIC_KEY_FILE: ["kefu-jwt", "jwt-public.pem"],
  KEFU_SERVICE_KEY_FILE: ["kefu-jwt", "service-jwt-private.pem"],
  KEFU_SERVICE_PUBLIC_KEY_FILE: ["kefu-jwt", "service-jwt-public.pem"],
};
// Exactly what the Secret kefu-jwt holds: no staff private key (jwt-private.pem).
const JWT_KEYS = ["jwt-public.pem", "service-jwt-private.pem", "service-jwt-public.pem"];
// The development identity provider's key, which k8s/gen-secrets.sh keeps next to the
// overlay (like the CA's key) and which must match the cluster's jwt-public.pem.
const staffKeyFile = (overlay) => path.join(path.resolve(args.tree), "k8s", "overlays", overlay, "secrets", "jwt-private.pem");
const KEFUCTL = "/usr/local/bin/kefuctl";
const EKU = { serverAuth: "1.3.6.1.5.5.7.3.1", clientAuth: "1.3.6.1.5.5.7.3.2" };

let failures = 0;
let checks = 0;
let sink = null; // self-test: collect failure messages instead of printing them
function fail(where, msg) {
  failures++;
  if (sink) sink.push(`[${where}] ${msg}`);
  else console.log(`FAIL [${where}] ${msg}`);
}
function check(cond, where, msg) {
  checks++;
  if (!cond) fail(where, msg);
  return cond;
}

// ---- 1. schema validation ----
function modelPath(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  if (group === "monitoring.coreos.com") return `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
  return group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
}

// Validates objects ([{label, obj}]); reports each problem under its label.
function validateSchemas(items, fileTag) {
  // runtime JSON-schema validation
  for (const { label, obj: o } of items) {
    const where = `${label} ${o.kind}/${o.metadata?.name}`;
    let Model;
    try {
      Model = require(modelPath(o.apiVersion, o.kind))[o.kind];
    } catch (e) {
      check(false, where, `no schema for ${o.apiVersion} ${o.kind}`);
      continue;
    }
    try {
      new Model(o).validate();
      check(true, where, "");
    } catch (e) {
      check(false, where, `schema: ${e.message.split("\n").slice(0, 6).join(" | ")}`);
    }
  }
  // strict typing: unknown fields are errors
  const dir = path.join(path.resolve(args.work), "typecheck");
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${fileTag.replace(/[^A-Za-z0-9]/g, "_")}.ts`);
  const imports = new Map();
  const lines = [];
  const owner = []; // line number -> item index
  items.forEach(({ obj: o }, i) => {
    const mp = modelPath(o.apiVersion, o.kind);
    try {
      require.resolve(mp);
    } catch {
      return; // reported above
    }
    if (!imports.has(mp)) imports.set(mp, { alias: `T${imports.size}`, kind: o.kind });
    const t = imports.get(mp);
    const text = `const o${i}: ${t.alias}.I${t.kind} = ${JSON.stringify(o, null, 1)};`;
    for (const l of text.split("\n")) {
      lines.push(l);
      owner.push(i);
    }
  });
  // resolved from the installed node_modules
  const head = [...imports].map(([mp, t]) =>
    `import type * as ${t.alias} from ${JSON.stringify(require.resolve(mp).replace(/\.js$/, ""))};`);
  fs.writeFileSync(file, [...head, ...lines, "export {};"].join("\n"));
  const program = ts.createProgram([file], {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    target: ts.ScriptTarget.ES2020,
  });
  checks++;
  for (const d of ts.getPreEmitDiagnostics(program)) {
    let where = fileTag;
    if (d.file && d.file.fileName === file && d.start !== undefined) {
      const { line } = d.file.getLineAndCharacterOfPosition(d.start);
      const idx = owner[line - head.length];
      if (idx !== undefined) where = `${items[idx].label} ${items[idx].obj.kind}/${items[idx].obj.metadata?.name}`;
    }
    fail(where, `strict schema: ${ts.flattenDiagnosticMessageText(d.messageText, " ").slice(0, 400)}`);
  }
}

// ---- helpers ----
// kustomize wraps long Secret values (certificates, keys) over several lines; the API
// server's base64 decoding skips line breaks, the schema's "byte" format does not.
const unwrapSecret = (o) => {
  if (o.kind === "Secret" && o.data)
    for (const k of Object.keys(o.data)) if (typeof o.data[k] === "string") o.data[k] = o.data[k].replace(/[\r\n]/g, "");
  return o;
};
const load = (file) =>
  YAML.parseAllDocuments(fs.readFileSync(file, "utf8"))
    .map((d) => d.toJSON())
    .filter((o) => o)
    .map(unwrapSecret);
const byKind = (objs, kind) => objs.filter((o) => o.kind === kind);
const find = (objs, kind, name) => objs.find((o) => o.kind === kind && o.metadata.name === name);
const matches = (selector, labels) =>
  selector && Object.entries(selector).every(([k, v]) => (labels || {})[k] === v);
const podSpecOf = (o) => {
  if (["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"].includes(o.kind)) return o.spec.template.spec;
  if (o.kind === "CronJob") return o.spec.jobTemplate.spec.template.spec;
  if (o.kind === "Pod") return o.spec;
  return null;
};
const podLabelsOf = (o) => (o.kind === "Pod" ? o.metadata.labels : o.spec?.template?.metadata?.labels) || {};
const workloads = (objs) => objs.filter((o) => podSpecOf(o));
const baseName = (generated) => generated.replace(/-[a-z0-9]{10}$/, "");
// kefuctl's command line -> {flags, words}: --flag=value or --flag value
const KEFUCTL_BOOL = new Set(["json", "plaintext", "help"]);
function kefuctlArgs(cmd) {
  const flags = {};
  const words = [];
  for (let i = 1; i < cmd.length; i++) {
    const m = /^--([a-z_]+)(?:=(.*))?$/s.exec(cmd[i]);
    if (!m) words.push(cmd[i]);
    else if (m[2] !== undefined) flags[m[1]] = m[2];
    else if (KEFUCTL_BOOL.has(m[1]) || i + 1 >= cmd.length) flags[m[1]] = "true";
    else flags[m[1]] = cmd[++i];
  }
  return { flags, words };
}
const durationMs = (s) => {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(s || "");
  return m ? Number(m[1]) * { ms: 1, s: 1000, m: 60000 }[m[2]] : NaN;
};
const pemText = (s, key) => (s?.data?.[key] === undefined ? undefined : Buffer.from(s.data[key], "base64").toString("utf8"));
const spki = (key) => key.export({ type: "spki", format: "pem" });
// the SPKI of a PEM that holds a public key and nothing private, else null
const publicOnly = (pem) => {
  try {
    crypto.createPrivateKey(pem);
    return null;
  } catch {}
  try {
    return spki(crypto.createPublicKey(pem));
  } catch {
    return null;
  }
};
// the SPKI of the public half of a PEM private key, else null
const publicOfPrivate = (pem) => {
  try {
    return spki(crypto.createPublicKey(crypto.createPrivateKey(pem)));
  } catch {
    return null;
  }
};

function imageTagOk(image) {
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return true;
  const last = image.split("/").pop();
  const i = last.lastIndexOf(":");
  if (i < 0) return false;
  const tag = last.slice(i + 1);
  return tag !== "" && tag !== "latest";
}

// ---- 2a. checks for every rendered set ----
function checkCommon(label, objs) {
  const seen = new Set();
  for (const o of objs) {
    const id = `${o.apiVersion}/${o.kind}/${o.metadata.namespace || ""}/${o.metadata.name}`;
    check(!seen.has(id), label, `duplicate ${id}`);
    seen.add(id);
  }
  for (const w of workloads(objs)) {
    const where = `${label} ${w.kind}/${w.metadata.name}`;
    const spec = podSpecOf(w);
    const psc = spec.securityContext || {};
    check(!spec.hostNetwork && !spec.hostPID && !spec.hostIPC, where, "host namespaces");
    check(!(spec.volumes || []).some((v) => v.hostPath), where, "hostPath volume");
    check(spec.automountServiceAccountToken === false, where, "automountServiceAccountToken must be false");
    for (const c of [...(spec.initContainers || []), ...spec.containers]) {
      const cw = `${where} container ${c.name}`;
      const sc = c.securityContext || {};
      check((sc.runAsNonRoot ?? psc.runAsNonRoot) === true, cw, "runAsNonRoot must be true");
      const uid = sc.runAsUser ?? psc.runAsUser;
      check(uid === undefined || uid > 0, cw, "runAsUser must not be 0");
      check(((sc.seccompProfile ?? psc.seccompProfile) || {}).type === "RuntimeDefault", cw, "seccompProfile RuntimeDefault");
      check(sc.allowPrivilegeEscalation === false, cw, "allowPrivilegeEscalation must be false");
      check(sc.readOnlyRootFilesystem === true, cw, "readOnlyRootFilesystem must be true");
      check(sc.privileged !== true, cw, "privileged");
      check((sc.capabilities?.drop || []).includes("ALL"), cw, "capabilities.drop must include ALL");
      check(!(sc.capabilities?.add || []).length, cw, "capabilities.add must be empty");
      const r = c.resources || {};
      for (const part of ["requests", "limits"])
        for (const res of ["cpu", "memory"]) check(r[part]?.[res] !== undefined, cw, `resources.${part}.${res} missing`);
      check(typeof c.image === "string" && imageTagOk(c.image), cw, `image ${c.image} must be pinned by a tag other than latest`);
    }
  }
}

// Which workloads a NetworkPolicy peer selects (same namespace), or a label for
// namespace selectors.
function peerNames(peer, objs) {
  if (peer.ipBlock) return ["ipBlock:" + peer.ipBlock.cidr];
  const pod = peer.podSelector?.matchLabels;
  if (peer.namespaceSelector) {
    const ns = Object.entries(peer.namespaceSelector.matchLabels || {}).map(([k, v]) => `${k}=${v}`);
    const pods = pod ? "+pod:" + Object.entries(pod).map(([k, v]) => `${k}=${v}`).join(",") : "";
    if (!ns.length) return ["ns:ANY" + pods];
    return ["ns:" + ns.join(",") + pods];
  }
  if (!pod || peer.podSelector.matchExpressions) return ["pod:ANY"];
  const hit = workloads(objs).filter((w) => matches(pod, podLabelsOf(w)));
  return hit.length ? hit.map((w) => w.metadata.name) : ["pod:NONE " + JSON.stringify(pod)];
}

// rule -> list of "peer:port" strings
function flows(rules, key, objs) {
  const out = new Set();
  for (const r of rules || []) {
    const peers = r[key] === undefined || r[key].length === 0 ? ["ANYWHERE"] : r[key].flatMap((p) => peerNames(p, objs));
    const ports = r.ports && r.ports.length ? r.ports.map((p) => `${p.port}/${p.protocol || "TCP"}`) : ["ALLPORTS"];
    for (const peer of peers) for (const port of ports) out.add(`${peer}:${port}`);
  }
  return out;
}
// JSON with object keys sorted (kustomize sorts keys when it renders)
const canon = (v) =>
  Array.isArray(v) ? `[${v.map(canon).join(",")}]`
  : v && typeof v === "object" ? `{${Object.keys(v).sort().map((k) => JSON.stringify(k) + ":" + canon(v[k])).join(",")}}`
  : JSON.stringify(v);
const setEq = (a, b) => a.size === b.size && [...a].every((x) => b.has(x));
const show = (s) => [...s].sort().join(" ");

// ---- 2b. the checklist on a full overlay ----
function checkOverlay(name, objs) {
  const label = `overlay ${name}`;
  const prod = name === "prod";
  const namespaces = byKind(objs, "Namespace");
  check(namespaces.length === 1, label, "exactly one Namespace");
  const ns = namespaces[0]?.metadata.name;
  check(namespaces[0]?.metadata.labels?.["pod-security.kubernetes.io/enforce"] === "restricted", label,
    "the Namespace must enforce the restricted Pod Security Standard");
  for (const o of objs)
    if (o.kind !== "Namespace") check(o.metadata.namespace === ns, `${label} ${o.kind}/${o.metadata.name}`, `namespace ${ns}`);

  const policies = byKind(objs, "NetworkPolicy");
  const deny = policies.filter(
    (p) => Object.keys(p.spec.podSelector || {}).length === 0 && !p.spec.ingress && !p.spec.egress &&
      (p.spec.policyTypes || []).includes("Ingress") && (p.spec.policyTypes || []).includes("Egress"));
  check(deny.length === 1, label, "one default-deny NetworkPolicy (podSelector {}, Ingress and Egress, no rules)");
  const policiesFor = (w) =>
    policies.filter((p) => Object.keys(p.spec.podSelector?.matchLabels || {}).length && matches(p.spec.podSelector.matchLabels, podLabelsOf(w)));

  const secrets = byKind(objs, "Secret");
  const secretNamed = (n) => secrets.find((s) => baseName(s.metadata.name) === n);
  const cmByName = (n) => find(objs, "ConfigMap", n);
  // The generated Secret (name without hash) and key a file in the container comes from.
  const secretFile = (pod, c, file) => {
    const m = typeof file === "string" && (c.volumeMounts || []).find((x) => file.startsWith(x.mountPath + "/"));
    const v = m && (pod.volumes || []).find((x) => x.name === m.name);
    const s = v?.secret && secrets.find((x) => x.metadata.name === v.secret.secretName);
    const key = m && file.slice(m.mountPath.length + 1);
    if (!s || v.secret.items || s.data?.[key] === undefined) return null;
    return { secret: baseName(s.metadata.name), key, readOnly: m.readOnly === true };
  };
  // the certificate every service presents (as server, and as client for mutual TLS)
  const tls = secretNamed("kefu-tls");
  let cert = null;
  try {
    cert = new crypto.X509Certificate(pemText(tls, "service.pem"));
  } catch {
    check(false, label, "Secret kefu-tls: service.pem must be a PEM certificate");
  }
  const dbStatefulSets = byKind(objs, "StatefulSet").filter((s) => podLabelsOf(s)["app.kubernetes.io/name"] === "mysql");
  check(dbStatefulSets.length > 0, label, "a MySQL StatefulSet");
  const dialled = {}; // host -> who dials it

  for (const [svc, spec] of Object.entries(SERVICES)) {
    const where = `${label} ${svc}`;
    const dep = find(objs, "Deployment", svc);
    if (!check(dep, where, "Deployment missing")) continue;
    const pod = dep.spec.template.spec;
    const labels = podLabelsOf(dep);
    const c = pod.containers[0];
    check(pod.containers.length === 1, where, "one container");
    if (prod) check(dep.spec.replicas >= 2, where, `prod replicas ${dep.spec.replicas} < 2`);
    // ports and probes
    const port = (n) => (c.ports || []).find((p) => p.name === n)?.containerPort;
    check(port("grpc") === spec.grpc, where, `container port grpc must be ${spec.grpc}`);
    check(port("metrics") === spec.metrics, where, `container port metrics must be ${spec.metrics}`);
    // scraping annotations
    const ann = dep.spec.template.metadata.annotations || {};
    check(ann["prometheus.io/scrape"] === "true" && ann["prometheus.io/port"] === String(spec.metrics) &&
      ann["prometheus.io/path"] === "/metrics", where, "prometheus.io/scrape, port, path annotations on the pod template");
    // service account
    check(pod.serviceAccountName === svc && find(objs, "ServiceAccount", svc)?.automountServiceAccountToken === false, where,
      "own ServiceAccount (automountServiceAccountToken false)");
    // Service
    const s = find(objs, "Service", svc);
    if (check(s, where, "Service missing")) {
      check(matches(s.spec.selector, labels), where, "Service selector must select the pods");
      const sp = (n) => s.spec.ports.find((p) => p.name === n);
      check(sp("grpc")?.port === spec.grpc && sp("grpc")?.targetPort === "grpc", where, "Service port grpc");
      check(sp("metrics")?.port === spec.metrics && sp("metrics")?.targetPort === "metrics", where, "Service port metrics");
    }
    // PDB, HPA
    const pdbs = byKind(objs, "PodDisruptionBudget").filter((p) => matches(p.spec.selector?.matchLabels, labels));
    check(pdbs.length === 1, where, "exactly one PodDisruptionBudget selecting the pods");
    const hpas = byKind(objs, "HorizontalPodAutoscaler").filter(
      (h) => h.apiVersion === "autoscaling/v2" && h.spec.scaleTargetRef.kind === "Deployment" && h.spec.scaleTargetRef.name === svc);
    check(hpas.length === 1, where, "exactly one autoscaling/v2 HorizontalPodAutoscaler for the Deployment");
    if (prod && hpas[0]) check(hpas[0].spec.minReplicas >= 2, where, "prod HPA minReplicas >= 2");
    // configuration
    const cmName = (c.envFrom || []).find((e) => e.configMapRef)?.configMapRef.name;
    const cm = cmByName(cmName);
    if (!check(cm, where, `ConfigMap ${cmName} of envFrom missing`)) continue;
    const env = cm.data;
    check(env.KEFU_GRPC_PORT === String(spec.grpc) && env.KEFU_METRICS_PORT === String(spec.metrics), where,
      "KEFU_GRPC_PORT/KEFU_METRICS_PORT match the ports");
    check(env.KEFU_DB_NAME === `kefu_${svc}` && env.KEFU_DB_USER === `kefu_${svc}`, where, "own schema and user kefu_<service>");
    const addrs = Object.keys(env).filter((k) => /^KEFU_[A-Z]+_ADDR$/.test(k)).map((k) => k.slice(5, -5).toLowerCase()).sort();
    check(JSON.stringify(addrs) === JSON.stringify([...spec.calls].sort()), where,
      `peer addresses ${addrs} must be exactly the services it calls ${spec.calls}`);
    for (const callee of spec.calls) {
      const v = env[`KEFU_${callee.toUpperCase()}_ADDR`];
      check(v === `${callee}:${SERVICES[callee].grpc}`, where, `KEFU_${callee.toUpperCase()}_ADDR=${v}`);
    }
    // password: a mounted Secret db-<service>
    const pwFile = env.KEFU_DB_PASSWORD_FILE || "";
    const mount = (c.volumeMounts || []).find((m) => pwFile.startsWith(m.mountPath + "/"));
    const vol = mount && (pod.volumes || []).find((v) => v.name === mount.name);
    const secret = vol?.secret && secrets.find((x) => x.metadata.name === vol.secret.secretName);
    check(secret && /^db-/.test(secret.metadata.name) && secret.metadata.name.startsWith(`db-${svc}`) &&
      secret.data?.[path.basename(pwFile)] !== undefined, where,
      `KEFU_DB_PASSWORD_FILE ${pwFile} must be key password of the mounted Secret db-${svc}`);
    check(!(c.env || []).some((e) => /PASSWORD/.test(e.name) && e.value !== undefined) &&
      !Object.keys(env).some((k) => k === "KEFU_DB_PASSWORD"), where, "no password in the environment or ConfigMap");
    // transport security: TLS always (plaintext is loopback-only), tokens verified and
    // signed with keys from the mounted Secrets, mutual TLS in prod
    const cfg = { ...env, ...Object.fromEntries((c.env || []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value])) };
    for (const s of ["kefu-tls", "kefu-jwt"]) {
      const vol = (pod.volumes || []).find((v) => v.secret && baseName(v.secret.secretName) === s);
      const m = vol && (c.volumeMounts || []).find((x) => x.name === vol.name);
      check(vol && secretNamed(s) && m && m.readOnly === true, where, `the generated Secret ${s} mounted read-only`);
    }
    for (const [k, [s, key]] of Object.entries(SECURITY_FILES)) {
      const f = secretFile(pod, c, cfg[k]);
      check(f && f.secret === s && f.key === key && f.readOnly, where,
        `${k}=${cfg[k]} must be ${key} of the Secret ${s}, mounted read-only`);
    }
    check(!["true", "1"].includes(String(cfg.KEFU_PLAINTEXT ?? "").toLowerCase()), where,
      "KEFU_PLAINTEXT: plaintext accepts loopback clients only, so TLS is required between pods");
    const mtls = cfg.KEFU_TLS_REQUIRE_CLIENT_CERT === "true";
    if (prod) check(mtls, where, "prod: KEFU_TLS_REQUIRE_CLIENT_CERT=true (mutual TLS between the services)");
    for (const callee of spec.calls) {
      const host = (env[`KEFU_${callee.toUpperCase()}_ADDR`] || "").replace(/:\d+$/, "");
      if (host) (dialled[`${host} (KEFU_${callee.toUpperCase()}_ADDR)`] ||= []).push(svc);
    }
    // probes: kefuctl health over TLS on the loopback (native gRPC probes cannot speak TLS)
    for (const [probe, service] of [["startupProbe", "liveness"], ["livenessProbe", "liveness"], ["readinessProbe", "readiness"]]) {
      const p = c[probe];
      const cmd = p?.exec?.command || [];
      const { flags, words } = kefuctlArgs(cmd);
      if (!check(p && !p.grpc && !p.httpGet && !p.tcpSocket && cmd[0] === KEFUCTL && words.join(" ") === "health" &&
        flags.service === service && flags.addr === `127.0.0.1:${spec.grpc}`, where,
        `${probe} must be exec [${KEFUCTL} --addr=127.0.0.1:${spec.grpc} ... health --service=${service}] ` +
        `(no grpc: probe, it cannot speak TLS), is ${JSON.stringify(p)}`)) continue;
      const ca = secretFile(pod, c, flags.tls_ca);
      check(!flags.plaintext && ca?.secret === "kefu-tls" && ca.key === "ca.pem", where,
        `${probe}: --tls_ca must be ca.pem of the mounted Secret kefu-tls, is ${flags.tls_ca}`);
      if (mtls) {
        const crt = secretFile(pod, c, flags.tls_cert);
        const key = secretFile(pod, c, flags.tls_key);
        check(crt?.secret === "kefu-tls" && crt.key === "service.pem" && key?.secret === "kefu-tls" && key.key === "service-key.pem",
          where, `${probe}: mutual TLS, so --tls_cert and --tls_key must be service.pem and service-key.pem of kefu-tls`);
      }
      check(durationMs(flags.timeout) < (p.timeoutSeconds ?? 1) * 1000, where,
        `${probe}: kefuctl --timeout ${flags.timeout} must be set and shorter than timeoutSeconds ${p.timeoutSeconds ?? 1}`);
    }
    // the database this service uses
    const dbSvc = find(objs, "Service", env.KEFU_DB_HOST);
    const dbPods = dbSvc ? dbStatefulSets.filter((st) => matches(dbSvc.spec.selector, podLabelsOf(st))) : [];
    check(dbSvc && dbPods.length === 1 && dbSvc.spec.ports.some((p) => p.port === Number(env.KEFU_DB_PORT)), where,
      `KEFU_DB_HOST=${env.KEFU_DB_HOST}:${env.KEFU_DB_PORT} must be the Service of one MySQL StatefulSet`);
    const db = dbPods[0];
    if (db) {
      check(podLabelsOf(db)[`kefu.io/db-${svc}`] === "true", where, `its MySQL ${db.metadata.name} must carry kefu.io/db-${svc}`);
      const hosts = (podLabelsOf(db)["kefu.io/db-" + svc] === "true") &&
        (db.spec.template.spec.containers[0].env || []).find((e) => e.name === "KEFU_DB_SERVICES")?.value.split(/\s+/);
      check(hosts && hosts.includes(svc), where, `${db.metadata.name} must create kefu_${svc} (KEFU_DB_SERVICES)`);
    }
    // network policies
    const mine = policiesFor(dep);
    check(mine.length >= 1, where, "a NetworkPolicy selecting the pods");
    const ingress = new Set(mine.flatMap((p) => [...flows(p.spec.ingress, "from", objs)]));
    const wantIn = new Set([
      ...callersOf(svc).map((c2) => `${c2}:${spec.grpc}/TCP`),
      `${API_CLIENTS}:${spec.grpc}/TCP`,
      `${MONITORING}:${spec.metrics}/TCP`,
    ]);
    check(setEq(ingress, wantIn), where, `ingress ${show(ingress)} must be ${show(wantIn)}`);
    const egress = new Set(mine.flatMap((p) => [...flows(p.spec.egress, "to", objs)]));
    const wantOut = new Set([
      ...(db ? [`${db.metadata.name}:3306/TCP`] : []),
      ...spec.calls.map((c2) => `${c2}:${SERVICES[c2].grpc}/TCP`),
      `${DNS}:53/UDP`,
      `${DNS}:53/TCP`,
    ]);
    check(setEq(egress, wantOut), where, `egress ${show(egress)} must be ${show(wantOut)}`);
    check(mine.every((p) => (p.spec.policyTypes || []).includes("Egress") && (p.spec.policyTypes || []).includes("Ingress")),
      where, "its policies cover Ingress and Egress");
  }

  // the peers verify the name they dial against the certificate
  if (cert)
    for (const [dial, who] of Object.entries(dialled))
      check(cert.checkHost(dial.split(" ")[0]) !== undefined, label,
        `Secret kefu-tls: service.pem does not name ${dial}, which ${who.join(", ")} dial: ` +
        "the TLS handshake checks the dialled name (tools/dev/gen-pki.sh names the certificate)");

  // databases: PVCs, only their services reach them, no egress
  for (const db of dbStatefulSets) {
    const where = `${label} ${db.metadata.name}`;
    const claims = (db.spec.volumeClaimTemplates || []).map((v) => v.metadata.name);
    const mounts = db.spec.template.spec.containers[0].volumeMounts || [];
    check(claims.length > 0 && mounts.some((m) => claims.includes(m.name) && m.mountPath === "/var/lib/mysql"), where,
      "data on a PersistentVolumeClaim (volumeClaimTemplates) mounted at /var/lib/mysql");
    const hosted = Object.keys(podLabelsOf(db)).filter((k) => k.startsWith("kefu.io/db-")).map((k) => k.slice(11)).sort();
    const listed = ((db.spec.template.spec.containers[0].env || []).find((e) => e.name === "KEFU_DB_SERVICES")?.value || "")
      .split(/\s+/).filter(Boolean).sort();
    check(JSON.stringify(hosted) === JSON.stringify(listed), where, `labels ${hosted} and KEFU_DB_SERVICES ${listed} must agree`);
    const mine = policiesFor(db);
    check(mine.length >= 1, where, "a NetworkPolicy selecting the database");
    const ingress = new Set(mine.flatMap((p) => [...flows(p.spec.ingress, "from", objs)]));
    const want = new Set(hosted.map((s) => `${s}:3306/TCP`));
    check(setEq(ingress, want), where, `ingress ${show(ingress)} must be ${show(want)}`);
    check(mine.every((p) => !p.spec.egress && (p.spec.policyTypes || []).includes("Egress")), where, "no egress");
    // every hosted service's Secret is mounted
    const vols = JSON.stringify(db.spec.template.spec.volumes);
    for (const s of hosted) check(vols.includes(`"db-${s}`), where, `Secret db-${s} mounted`);
  }
  if (prod) {
    for (const svc of Object.keys(SERVICES)) {
      const env = cmByName((find(objs, "Deployment", svc)?.spec.template.spec.containers[0].envFrom || [])[0]?.configMapRef.name)?.data || {};
      const others = Object.keys(SERVICES).filter((o) => o !== svc).map((o) => {
        const e = cmByName((find(objs, "Deployment", o)?.spec.template.spec.containers[0].envFrom || [])[0]?.configMapRef.name)?.data || {};
        return e.KEFU_DB_HOST;
      });
      check(env.KEFU_DB_HOST && !others.includes(env.KEFU_DB_HOST), `${label} ${svc}`, "prod: a MySQL instance of its own");
    }
  }

  // Secrets: only generated ones, with data; the values come back to the caller for the git check
  for (const s of secrets) {
    const where = `${label} Secret/${s.metadata.name}`;
    check(/-[a-z0-9]{10}$/.test(s.metadata.name), where, "a Secret must come from a secretGenerator (hash suffix)");
    check(!s.stringData, where, "no stringData");
    for (const [k, v] of Object.entries(s.data || {})) {
      const value = Buffer.from(v, "base64").toString("utf8");
      check(value.length >= 16, where, `${k} shorter than 16 characters`);
      secretValues.push({ where: `${where} ${k}`, value });
    }
  }
  for (const n of ["mysql-root", ...Object.keys(SERVICES).map((s) => `db-${s}`), "kefu-tls", "kefu-jwt"])
    check(secrets.some((s) => s.metadata.name.startsWith(n + "-")), label, `generated Secret ${n}`);

  // TLS and token keys fit together (tools/dev/gen-pki.sh made them; k8s/gen-secrets.sh)
  if (tls) {
    let ca = null;
    try {
      ca = new crypto.X509Certificate(pemText(tls, "ca.pem"));
    } catch {
      check(false, label, "Secret kefu-tls: ca.pem must be a PEM certificate");
    }
    if (ca && cert) {
      check(ca.ca, label, "Secret kefu-tls: ca.pem must be a CA certificate");
      check(cert.checkIssued(ca) && cert.verify(ca.publicKey), label, "Secret kefu-tls: service.pem must be signed by ca.pem");
      check(new Date(cert.validTo) > new Date(), label, `Secret kefu-tls: service.pem expired ${cert.validTo}`);
      let keyOk = false;
      try {
        keyOk = cert.checkPrivateKey(crypto.createPrivateKey(pemText(tls, "service-key.pem")));
      } catch {}
      check(keyOk, label, "Secret kefu-tls: service-key.pem must be the private key of service.pem");
      const eku = cert.keyUsage || [];
      check(eku.includes(EKU.serverAuth) && eku.includes(EKU.clientAuth), label,
        "Secret kefu-tls: service.pem must allow serverAuth and clientAuth (it is the client certificate of mutual TLS too)");
      check(cert.checkIP("127.0.0.1") !== undefined, label, "Secret kefu-tls: service.pem must name 127.0.0.1 (the probes dial it)");
      // the CA's key signs certificates: it stays with gen-secrets.sh, out of the cluster
      for (const s of secrets)
        for (const k of Object.keys(s.data || {})) {
          let pub = null;
          try {
            pub = spki(crypto.createPublicKey(crypto.createPrivateKey(pemText(s, k))));
          } catch {}
          check(!/ca-key/.test(k) && pub !== spki(ca.publicKey), `${label} Secret/${s.metadata.name}`,
            `${k}: the CA's private key must not be in the cluster`);
        }
    }
  }
  // Token keys: staff tokens come from the identity provider, so the cluster holds only
  // its public key; the services' own tokens have a key pair of their own. A pod can
  // then mint service tokens only, never a staff member's.
  const jwt = secretNamed("kefu-jwt");
  if (jwt) {
    const keys = Object.keys(jwt.data || {}).sort();
    check(JSON.stringify(keys) === JSON.stringify([...JWT_KEYS].sort()), label,
      `Secret kefu-jwt: keys ${keys} must be exactly ${JWT_KEYS} (no staff private key jwt-private.pem)`);
    const staffPub = publicOnly(pemText(jwt, "jwt-public.pem") || "");
    const servicePub = publicOnly(pemText(jwt, "service-jwt-public.pem") || "");
    check(staffPub, label, "Secret kefu-jwt: jwt-public.pem must be a public key (and nothing private)");
    check(servicePub, label, "Secret kefu-jwt: service-jwt-public.pem must be a public key (and nothing private)");
    check(servicePub && publicOfPrivate(pemText(jwt, "service-jwt-private.pem") || "") === servicePub, label,
      "Secret kefu-jwt: service-jwt-public.pem must be the public key of service-jwt-private.pem (the services' token pair)");
    check(!(staffPub && staffPub === servicePub), label,
      "Secret kefu-jwt: the services' token pair must not be the staff tokens' key (service-jwt-public.pem = jwt-public.pem)");
    // the staff private key, under whatever name, is in no Secret
    if (staffPub)
      for (const s of secrets)
        for (const k of Object.keys(s.data || {}))
          check(k !== "jwt-private.pem" && publicOfPrivate(pemText(s, k)) !== staffPub, `${label} Secret/${s.metadata.name}`,
            `${k}: the staff tokens' private key (the identity provider's, jwt-private.pem) must not be in the cluster`);
    // the development issuer's key that k8s/gen-secrets.sh keeps out of the cluster
    // (kefuctl token mint --signing_key secrets/jwt-private.pem) fits jwt-public.pem
    const file = staffKeyFile(name);
    let issuer = null;
    try {
      issuer = publicOfPrivate(fs.readFileSync(file, "utf8"));
    } catch {}
    check(issuer && issuer === staffPub, label,
      `Secret kefu-jwt: jwt-public.pem must be the public key of ${path.relative(path.resolve(args.tree), file)}, ` +
      "the development identity provider's key that k8s/gen-secrets.sh keeps out of the cluster");
  }

  // monitoring objects
  const dash = byKind(objs, "ConfigMap").filter((c) => c.metadata.labels?.grafana_dashboard === "1");
  check(dash.length >= 1, label, "a ConfigMap labelled grafana_dashboard: \"1\"");
  const gdir = path.join(args.src, "deploy", "grafana");
  const files = fs.readdirSync(gdir).filter((f) => f.endsWith(".json")).sort();
  const shipped = Object.assign({}, ...dash.map((c) => c.data || {}));
  check(JSON.stringify(Object.keys(shipped).sort()) === JSON.stringify(files), label,
    `dashboards shipped ${Object.keys(shipped)} must be deploy/grafana/*.json ${files}`);
  for (const f of files) check(shipped[f] === fs.readFileSync(path.join(gdir, f), "utf8"), label, `${f} shipped unchanged`);

  for (const sm of byKind(objs, "ServiceMonitor")) {
    const where = `${label} ServiceMonitor/${sm.metadata.name}`;
    const selected = byKind(objs, "Service").filter((s) => matches(sm.spec.selector.matchLabels, s.metadata.labels));
    check(JSON.stringify(selected.map((s) => s.metadata.name).sort()) === JSON.stringify(Object.keys(SERVICES).sort()), where,
      `must select exactly the five services, selects ${selected.map((s) => s.metadata.name)}`);
    check(sm.spec.endpoints.every((e) => selected.every((s) => s.spec.ports.some((p) => p.name === e.port))), where,
      "endpoint ports must exist on every selected Service");
  }
  for (const pr of byKind(objs, "PrometheusRule")) {
    const rules = YAML.parse(fs.readFileSync(path.join(args.src, "deploy/prometheus/rules/kefu-alerts.yml"), "utf8"));
    check(canon(pr.spec.groups) === canon(rules.groups), `${label} PrometheusRule/${pr.metadata.name}`,
      "spec.groups must equal deploy/prometheus/rules/kefu-alerts.yml");
  }
  if (prod) {
    check(byKind(objs, "ServiceMonitor").length === 1, label, "prod: a ServiceMonitor");
    check(byKind(objs, "PrometheusRule").length === 1, label, "prod: a PrometheusRule");
  }
}

// ---- 2c. nothing secret in git ----
const secretValues = [];
function checkGit() {
  const src = args.src;
  const git = (...a) => execFileSync("git", ["-C", src, ...a], { encoding: "utf8" });
  // what is (or would be) committed: tracked files plus untracked ones not ignored
  const files = git("ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0").filter(Boolean)
    .filter((f) => fs.existsSync(path.join(src, f)) && fs.statSync(path.join(src, f)).isFile());
  const yamls = files.filter((f) => /^(k8s|deploy)\/.*\.ya?ml$/.test(f));
  check(yamls.length > 10, "git", `found only ${yamls.length} manifest files`);
  for (const f of yamls) {
    let docs;
    try {
      docs = YAML.parseAllDocuments(fs.readFileSync(path.join(src, f), "utf8")).map((d) => d.toJSON());
    } catch (e) {
      check(false, f, `not YAML: ${e.message}`);
      continue;
    }
    for (const d of docs) {
      if (!d) continue;
      check(d.kind !== "Secret", f, "a Secret object is committed");
      for (const g of d.secretGenerator || []) {
        check(!g.literals, f, `secretGenerator ${g.name} has literals`);
        for (const entry of [...(g.files || []), ...(g.envs || []), ...(g.env ? [g.env] : [])]) {
          const rel = path.join(path.dirname(f), entry.includes("=") ? entry.split("=")[1] : entry);
          check(!files.includes(rel), f, `secretGenerator ${g.name} reads ${rel}, which is committed or not ignored`);
          let ignored = true;
          try {
            git("check-ignore", "-q", "--no-index", rel);
          } catch {
            ignored = false;
          }
          check(ignored, f, `${rel} must be git-ignored`);
        }
      }
    }
  }
  // no rendered password appears in any committed file
  const values = secretValues.map((s) => s.value);
  checks++;
  for (const f of files) {
    let text;
    try {
      text = fs.readFileSync(path.join(src, f), "utf8");
    } catch {
      continue;
    }
    for (const s of secretValues) if (text.includes(s.value)) fail("git", `${s.where}: its value appears in ${f}`);
  }
  check(values.length > 0, "git", "no Secret values rendered");
}

// ---- 3. self-test: every check above must catch a broken manifest ----
// Each mutation breaks one property of the rendered prod overlay (or of a scratch
// git checkout); the checks must report it with a message matching `expect`.
const clone = (v) => JSON.parse(JSON.stringify(v));
const get = (objs, kind, name) => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name.startsWith(name));
  if (!o) throw new Error(`self-test: no ${kind} ${name}`);
  return o;
};
const ctr = (objs, kind, name) => podSpecOf(get(objs, kind, name)).containers[0];
const MUTATIONS = [
  ["unknown field in a container", /strict schema.*foo/, (o) => (ctr(o, "Deployment", "customers").foo = 1)],
  ["misspelt field (readinesProbe)", /strict schema.*readinesProbe/, (o) => {
    const c = ctr(o, "Deployment", "sales"); c.readinesProbe = c.readinessProbe; delete c.readinessProbe; }],
  ["unknown field deep in a NetworkPolicy", /strict schema.*podSelectr/, (o) => {
    get(o, "NetworkPolicy", "contracts").spec.ingress[0].from[0].podSelectr = {}; }],
  ["wrong type (replicas as a string)", /schema/, (o) => (get(o, "Deployment", "complaints").spec.replicas = "2")],
  ["unknown field in the ServiceMonitor", /strict schema.*intervall/, (o) => (get(o, "ServiceMonitor", "kefu").spec.endpoints[0].intervall = "5s")],
  ["image tag latest", /pinned/, (o) => (ctr(o, "Deployment", "customers").image = "registry.example.com/kefu/customers:latest")],
  ["image without a tag", /pinned/, (o) => (ctr(o, "StatefulSet", "mysql-sales").image = "mysql")],
  ["readOnlyRootFilesystem missing", /readOnlyRootFilesystem/, (o) => delete ctr(o, "StatefulSet", "mysql-customers").securityContext.readOnlyRootFilesystem],
  ["privilege escalation allowed", /allowPrivilegeEscalation/, (o) => (ctr(o, "Deployment", "sales").securityContext.allowPrivilegeEscalation = true)],
  ["capabilities not dropped", /capabilities.drop/, (o) => delete ctr(o, "Deployment", "performance").securityContext.capabilities],
  ["running as root", /runAsUser|runAsNonRoot/, (o) => (podSpecOf(get(o, "Deployment", "contracts")).securityContext.runAsUser = 0)],
  ["no seccomp profile", /seccompProfile/, (o) => delete podSpecOf(get(o, "Deployment", "complaints")).securityContext.seccompProfile],
  ["no memory limit", /limits.memory/, (o) => delete ctr(o, "Deployment", "sales").resources.limits.memory],
  ["no cpu request", /requests.cpu/, (o) => delete ctr(o, "StatefulSet", "mysql-performance").resources.requests.cpu],
  ["readiness probe on the liveness service", /readinessProbe/, (o) => {
    const cmd = ctr(o, "Deployment", "customers").readinessProbe.exec.command;
    cmd[cmd.indexOf("--service=readiness")] = "--service=liveness"; }],
  ["a native gRPC probe (cannot speak TLS)", /readinessProbe.*grpc/, (o) => {
    ctr(o, "Deployment", "sales").readinessProbe = { grpc: { port: 50052, service: "readiness" }, periodSeconds: 5 }; }],
  ["a probe on another service's port", /livenessProbe/, (o) => {
    const cmd = ctr(o, "Deployment", "contracts").livenessProbe.exec.command;
    cmd[cmd.indexOf("--addr=127.0.0.1:50053")] = "--addr=127.0.0.1:50051"; }],
  ["a probe without the CA", /--tls_ca/, (o) => {
    const p = ctr(o, "Deployment", "complaints").startupProbe.exec; p.command = p.command.filter((a) => !a.startsWith("--tls_ca")); }],
  ["a prod probe without a client certificate", /--tls_cert/, (o) => {
    const p = ctr(o, "Deployment", "performance").readinessProbe.exec;
    p.command = p.command.filter((a) => !/^--tls_(cert|key)/.test(a)); }],
  ["a probe whose call outlives it", /--timeout/, (o) => {
    const cmd = ctr(o, "Deployment", "customers").livenessProbe.exec.command;
    cmd[cmd.findIndex((a) => a.startsWith("--timeout"))] = "--timeout=5s"; }],
  ["TLS Secret not mounted", /kefu-tls/, (o) => {
    const c = ctr(o, "Deployment", "sales"); c.volumeMounts = c.volumeMounts.filter((m) => m.name !== "tls"); }],
  ["JWT Secret not mounted", /kefu-jwt/, (o) => {
    const pod = podSpecOf(get(o, "Deployment", "contracts"));
    pod.volumes = pod.volumes.filter((v) => v.name !== "jwt");
    pod.containers[0].volumeMounts = pod.containers[0].volumeMounts.filter((m) => m.name !== "jwt"); }],
  ["TLS Secret mounted writable", /read-only/, (o) => {
    ctr(o, "Deployment", "customers").volumeMounts.find((m) => m.name === "tls").readOnly = false; }],
  ["no KEFU_JWT_PUBLIC_KEY_FILE", /KEFU_JWT_PUBLIC_KEY_FILE/, (o) => delete get(o, "ConfigMap", "complaints-config").data.KEFU_JWT_PUBLIC_KEY_FILE],
  ["the service key from the wrong file", /KEFU_SERVICE_KEY_FILE/, (o) => {
    get(o, "ConfigMap", "performance-config").data.KEFU_SERVICE_KEY_FILE = "/var/run/secrets/kefu/jwt/jwt-public.pem"; }],
  ["no KEFU_SERVICE_PUBLIC_KEY_FILE", /KEFU_SERVICE_PUBLIC_KEY_FILE/, (o) => delete get(o, "ConfigMap", "sales-config").data.KEFU_SERVICE_PUBLIC_KEY_FILE],
  ["peers' tokens verified with the staff key", /KEFU_SERVICE_PUBLIC_KEY_FILE/, (o) => {
    get(o, "ConfigMap", "customers-config").data.KEFU_SERVICE_PUBLIC_KEY_FILE = "/var/run/secrets/kefu/jwt/jwt-public.pem"; }],
  ["staff tokens verified with the service key", /KEFU_JWT_PUBLIC_KEY_FILE/, (o) => {
    get(o, "ConfigMap", "contracts-config").data.KEFU_JWT_PUBLIC_KEY_FILE = "/var/run/secrets/kefu/jwt/service-jwt-public.pem"; }],
  ["the TLS key where nothing is mounted", /KEFU_TLS_KEY_FILE/, (o) => {
    get(o, "ConfigMap", "sales-config").data.KEFU_TLS_KEY_FILE = "/etc/kefu/service-key.pem"; }],
  ["prod without mutual TLS", /KEFU_TLS_REQUIRE_CLIENT_CERT/, (o) => delete get(o, "ConfigMap", "customers-config").data.KEFU_TLS_REQUIRE_CLIENT_CERT],
  ["plaintext between pods", /KEFU_PLAINTEXT/, (o) => (get(o, "ConfigMap", "contracts-config").data.KEFU_PLAINTEXT = "true")],
  ["no TLS Secret", /kefu-tls/, (o) => o.splice(o.indexOf(get(o, "Secret", "kefu-tls")), 1)],
  ["a certificate of another CA", /signed by ca.pem|CA certificate/, (o) => {
    const d = get(o, "Secret", "kefu-tls").data; d["ca.pem"] = d["service.pem"]; }],
  ["the key of another certificate", /service-key.pem/, (o) => {
    get(o, "Secret", "kefu-tls").data["service-key.pem"] = get(o, "Secret", "kefu-jwt").data["service-jwt-private.pem"]; }],
  ["staff tokens verified with a key not the issuer's", /jwt-public.pem must be the public key of/, (o) => {
    const other = crypto.createPublicKey(pemText(get(o, "Secret", "kefu-tls"), "service-key.pem"));
    get(o, "Secret", "kefu-jwt").data["jwt-public.pem"] = Buffer.from(spki(other)).toString("base64"); }],
  ["service token keys not a pair", /service-jwt-public.pem must be the public key of service-jwt-private.pem/, (o) => {
    const other = crypto.createPublicKey(pemText(get(o, "Secret", "kefu-tls"), "service-key.pem"));
    get(o, "Secret", "kefu-jwt").data["service-jwt-public.pem"] = Buffer.from(spki(other)).toString("base64"); }],
  ["a public key file holding the private key", /service-jwt-public.pem must be a public key/, (o) => {
    const d = get(o, "Secret", "kefu-jwt").data; d["service-jwt-public.pem"] = d["service-jwt-private.pem"]; }],
  ["the staff private key in kefu-jwt (as before the split)", /staff tokens' private key/, (o) => {
    get(o, "Secret", "kefu-jwt").data["jwt-private.pem"] = fs.readFileSync(staffKeyFile("prod")).toString("base64"); }],
  ["the staff private key under another name", /staff tokens' private key/, (o) => {
    get(o, "Secret", "kefu-tls").data["issuer.pem"] = fs.readFileSync(staffKeyFile("prod")).toString("base64"); }],
  ["services signing with the staff key pair", /staff tokens' private key|must not be the staff tokens' key/, (o) => {
    const d = get(o, "Secret", "kefu-jwt").data;
    d["service-jwt-private.pem"] = fs.readFileSync(staffKeyFile("prod")).toString("base64");
    d["service-jwt-public.pem"] = d["jwt-public.pem"]; }],
  ["one key pair for staff and service tokens, kept in the cluster", /must not be the staff tokens' key/, (o) => {
    const d = get(o, "Secret", "kefu-jwt").data; d["jwt-public.pem"] = d["service-jwt-public.pem"]; }],
  ["the CA's key in the cluster", /CA's private key/, (o) => {
    get(o, "Secret", "kefu-tls").data["ca-key.pem"] = get(o, "Secret", "kefu-jwt").data["service-jwt-private.pem"]; }],
  ["a peer dialled by a name the certificate lacks", /does not name/, (o) => {
    get(o, "ConfigMap", "sales-config").data.KEFU_CONTRACTS_ADDR = "contracts.example.com:50053"; }],
  ["startup probe missing", /startupProbe/, (o) => delete ctr(o, "Deployment", "contracts").startupProbe],
  ["liveness probe over TCP", /livenessProbe/, (o) => {
    const c = ctr(o, "Deployment", "complaints"); c.livenessProbe = { tcpSocket: { port: 50054 } }; }],
  ["no PodDisruptionBudget", /PodDisruptionBudget/, (o) => o.splice(o.indexOf(get(o, "PodDisruptionBudget", "contracts")), 1)],
  ["no HorizontalPodAutoscaler", /HorizontalPodAutoscaler/, (o) => o.splice(o.indexOf(get(o, "HorizontalPodAutoscaler", "complaints")), 1)],
  ["no NetworkPolicy for a service", /NetworkPolicy selecting the pods/, (o) => o.splice(o.indexOf(get(o, "NetworkPolicy", "performance")), 1)],
  ["no default-deny", /default-deny/, (o) => o.splice(o.indexOf(get(o, "NetworkPolicy", "default-deny")), 1)],
  ["a service reachable by a non-caller", /ingress/, (o) => get(o, "NetworkPolicy", "sales").spec.ingress[0].from.push(
    { podSelector: { matchLabels: { "app.kubernetes.io/name": "complaints", "app.kubernetes.io/part-of": "kefu" } } })],
  ["egress open to everywhere", /egress/, (o) => get(o, "NetworkPolicy", "customers").spec.egress.push({ ports: [{ port: 443, protocol: "TCP" }] })],
  ["egress to another service's database", /egress/, (o) => get(o, "NetworkPolicy", "sales").spec.egress.push(
    { to: [{ podSelector: { matchLabels: { "kefu.io/db-customers": "true" } } }], ports: [{ port: 3306, protocol: "TCP" }] })],
  ["a database reachable by another service", /ingress/, (o) => get(o, "NetworkPolicy", "mysql-contracts").spec.ingress[0].from.push(
    { podSelector: { matchLabels: { "app.kubernetes.io/name": "sales", "app.kubernetes.io/part-of": "kefu" } } })],
  ["a database with egress", /no egress/, (o) => (get(o, "NetworkPolicy", "mysql-sales").spec.egress = [{ to: [] }])],
  ["calls a service it should not", /peer addresses/, (o) => (get(o, "ConfigMap", "contracts-config").data.KEFU_SALES_ADDR = "sales:50052")],
  ["wrong peer port", /KEFU_CUSTOMERS_ADDR/, (o) => (get(o, "ConfigMap", "sales-config").data.KEFU_CUSTOMERS_ADDR = "customers:50052")],
  ["another service's schema", /kefu_<service>/, (o) => (get(o, "ConfigMap", "complaints-config").data.KEFU_DB_NAME = "kefu_customers")],
  ["shared database in prod", /of its own/, (o) => (get(o, "ConfigMap", "sales-config").data.KEFU_DB_HOST = "mysql-customers")],
  ["password in the ConfigMap", /no password/, (o) => (get(o, "ConfigMap", "customers-config").data.KEFU_DB_PASSWORD = "x")],
  ["another service's Secret mounted", /Secret db-sales/, (o) => {
    const v = podSpecOf(get(o, "Deployment", "sales")).volumes.find((x) => x.secret);
    v.secret.secretName = get(o, "Secret", "db-customers").metadata.name; }],
  ["database without a PVC", /PersistentVolumeClaim/, (o) => delete get(o, "StatefulSet", "mysql-complaints").spec.volumeClaimTemplates],
  ["prod with one replica", /replicas/, (o) => (get(o, "Deployment", "customers").spec.replicas = 1)],
  ["prod HPA down to one", /minReplicas/, (o) => (get(o, "HorizontalPodAutoscaler", "sales").spec.minReplicas = 1)],
  ["no scrape annotation", /annotations/, (o) => delete get(o, "Deployment", "contracts").spec.template.metadata.annotations["prometheus.io/scrape"]],
  ["metrics port renamed", /metrics/, (o) => (get(o, "Service", "complaints").spec.ports[1].name = "http")],
  ["ServiceMonitor on a missing port", /endpoint ports/, (o) => (get(o, "ServiceMonitor", "kefu").spec.endpoints[0].port = "metric")],
  ["dashboards without the sidecar label", /grafana_dashboard/, (o) => delete get(o, "ConfigMap", "kefu-grafana-dashboards").metadata.labels.grafana_dashboard],
  ["a dashboard changed on the way", /shipped unchanged/, (o) => {
    const c = get(o, "ConfigMap", "kefu-grafana-dashboards"); const k = Object.keys(c.data)[0]; c.data[k] += " "; }],
  ["alert rules out of step", /PrometheusRule/, (o) => (get(o, "PrometheusRule", "kefu-alerts").spec.groups[0].rules[0].for = "1h")],
  ["a literal Secret", /secretGenerator|stringData/, (o) => o.push({ apiVersion: "v1", kind: "Secret",
    metadata: { name: "db-extra", namespace: "kefu" }, stringData: { password: "hunter2hunter2hunter2" } })],
  ["no Pod Security enforcement", /restricted/, (o) => delete get(o, "Namespace", "kefu").metadata.labels["pod-security.kubernetes.io/enforce"]],
  ["a service account token mounted", /automount/, (o) => (podSpecOf(get(o, "Deployment", "sales")).automountServiceAccountToken = true)],
];

const GIT_MUTATIONS = [
  ["a Secret committed", /Secret object is committed/, {
    "k8s/base/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: x\n" }],
  ["secretGenerator literals", /literals/, {
    "k8s/overlays/x/kustomization.yaml": "secretGenerator:\n- name: db\n  literals:\n  - password=x\n" }],
  ["secret file not ignored", /git-ignored|committed or not ignored/, {
    "k8s/overlays/x/kustomization.yaml": "secretGenerator:\n- name: db\n  envs:\n  - db.env\n", "k8s/overlays/x/db.env": "password=x\n" }],
  ["a rendered password written in a file", /appears in/, { "k8s/notes.yaml": "note: PASSWORD\n" }],
];

function selfTest(prodFile) {
  const base = load(prodFile);
  const baseCanon = base.map(canon);
  const results = [];
  const schemaItems = [];
  for (const [name, expect, mutate] of MUTATIONS) {
    const objs = clone(base);
    mutate(objs);
    sink = [];
    secretValues.length = 0;
    checkCommon("mutant", objs);
    checkOverlay("prod", objs);
    const found = sink;
    sink = null;
    const idx = results.length;
    results.push({ name, expect, found });
    objs.filter((o) => !baseCanon.includes(canon(o))).forEach((obj) => schemaItems.push({ label: `mutant#${idx}`, obj }));
  }
  sink = [];
  validateSchemas(schemaItems, "selftest");
  for (const msg of sink) {
    const m = /^\[mutant#(\d+) /.exec(msg);
    if (m) results[Number(m[1])].found.push(msg);
  }
  sink = null;
  // the unmutated render passes
  sink = [];
  checkCommon("original", base);
  checkOverlay("prod", base);
  const clean = sink;
  sink = null;
  // git checks on a scratch repository holding what the real one holds plus a mutation
  const password = "Zq7" + "x".repeat(29);
  for (const [name, expect, files] of GIT_MUTATIONS) {
    const dir = fs.mkdtempSync(path.join(path.resolve(args.work), "git-"));
    execFileSync("git", ["init", "-q", dir]);
    fs.cpSync(path.join(args.src, "k8s"), path.join(dir, "k8s"), { recursive: true });
    fs.cpSync(path.join(args.src, "deploy"), path.join(dir, "deploy"), { recursive: true });
    fs.rmSync(path.join(dir, "k8s/overlays/dev/secrets"), { recursive: true, force: true });
    fs.rmSync(path.join(dir, "k8s/overlays/prod/secrets"), { recursive: true, force: true });
    for (const [f, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      fs.writeFileSync(path.join(dir, f), text.replace("PASSWORD", password));
    }
    const saved = args.src;
    args.src = dir;
    secretValues.length = 0;
    secretValues.push({ where: "mutant", value: password });
    sink = [];
    checkGit();
    results.push({ name, expect, found: sink });
    sink = null;
    args.src = saved;
    fs.rmSync(dir, { recursive: true, force: true });
  }
  let bad = 0;
  if (clean.length) {
    bad++;
    console.log(`FAIL the unmutated prod render fails: ${clean.slice(0, 3).join("; ")}`);
  }
  for (const r of results) {
    const hit = r.found.find((m) => r.expect.test(m));
    if (hit) console.log(`ok   caught: ${r.name} -> ${hit.slice(0, 150)}`);
    else {
      bad++;
      console.log(`FAIL not caught: ${r.name} (expected ${r.expect}); reported: ${r.found.slice(0, 3).join("; ") || "nothing"}`);
    }
  }
  console.log(`${results.length - bad + (clean.length ? 0 : 1)} passed, ${bad} failed`);
  process.exit(bad ? 1 : 0);
}

// ---- run ----
if (args.selftest) selfTest(args.selftest);
else {
const rendered = {};
for (const spec of args.overlay) {
  const [name, file] = spec.split("=");
  const objs = load(file);
  console.log(`overlay ${name}: ${objs.length} objects`);
  validateSchemas(objs.map((obj) => ({ label: `overlay ${name}`, obj })), `overlay-${name}`);
  checkCommon(`overlay ${name}`, objs);
  checkOverlay(name, objs);
  rendered[name] = objs;
}
for (const spec of args.component) {
  const [name, file] = spec.split("=");
  const objs = load(file);
  console.log(`base + component ${name}: ${objs.length} objects`);
  validateSchemas(objs.map((obj) => ({ label: `component ${name}`, obj })), `component-${name}`);
  checkCommon(`component ${name}`, objs);
}
check(args.overlay.length >= 2, "args", "dev and prod overlays");
checkGit();
console.log(`${checks - failures} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
}
