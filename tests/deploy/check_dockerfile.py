#!/usr/bin/env python3
"""Keeps the Dockerfile in step with the build and the manifests (no Docker engine here).

  check_dockerfile.py <repo> [<build dir>]

- every `kefu-<service>` executable of services/*/CMakeLists.txt has an image: a
  stage `FROM runtime AS <service>` that copies that binary from the build stage
  and runs it, and the build stage builds that target; no stage for a service
  that is not in services/;
- every image ships kefuctl (built in the build stage, /usr/local/bin/kefuctl): the
  Kubernetes probes are exec probes running `kefuctl health`, since native gRPC
  probes cannot speak TLS;
- the images are the ones k8s/ deploys (kefu-<service>), with the same ports and
  user id, and every probe command is a program the image has;
- the build stage installs the build packages of tools/dev/install-deps.sh; the
  runtime stage none of them, and (with a build dir) every shared library the
  built binaries (services and kefuctl) load comes from a runtime package or its
  dependencies;
- base images pinned by a tag other than latest; .dockerignore keeps build trees
  and .git out but everything CMake needs in.

Then it breaks a copy of the Dockerfile in several ways and checks that each is
caught. Prints 'N passed, N failed'.
"""
import glob
import os
import re
import shlex
import subprocess
import sys

import yaml

REPO = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
BUILD = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else None
# The client every image carries for the exec probes (tools/kefuctl).
KEFUCTL_COPY = "--from=build /build/tools/kefuctl/kefuctl /usr/local/bin/kefuctl"


def read(rel):
    with open(os.path.join(REPO, rel), encoding="utf-8") as f:
        return f.read()


def cmake_services():
    out = {}
    for path in sorted(glob.glob(os.path.join(REPO, "services", "*", "CMakeLists.txt"))):
        text = re.sub(r"#.*", "", open(path, encoding="utf-8").read())
        for m in re.finditer(r"add_executable\(\s*kefu-([a-z]+)\b", text):
            out[m.group(1)] = os.path.basename(os.path.dirname(path))
    return out


def install_deps_packages():
    text = read("tools/dev/install-deps.sh")
    m = re.search(r"packages=\((.*?)\n\)", text, re.S)
    pkgs = []
    for line in m.group(1).splitlines():
        pkgs += line.split("#")[0].split()
    return pkgs


def build_packages(pkgs):
    return [p for p in pkgs if re.search(r"-dev$|^g\+\+$|^make$|^cmake$|^pkg-config$|^protobuf-compiler", p)]


def k8s_deployments():
    out = {}
    for path in glob.glob(os.path.join(REPO, "k8s", "base", "services", "*", "deployment.yaml")):
        d = yaml.safe_load(open(path, encoding="utf-8"))
        spec = d["spec"]["template"]["spec"]
        c = spec["containers"][0]
        probes = [c[k]["exec"]["command"][0] for k in ("startupProbe", "livenessProbe", "readinessProbe")
                  if (c.get(k) or {}).get("exec", {}).get("command")]
        out[d["metadata"]["name"]] = {
            "image": c["image"],
            "ports": sorted(p["containerPort"] for p in c["ports"]),
            "uid": spec["securityContext"]["runAsUser"],
            "probes": sorted(set(probes)),
        }
    return out


def parse_dockerfile(text):
    """-> (args, stages): stages in order, each {name, base, instructions[(op, arg)]}."""
    lines, buf = [], ""
    for raw in text.splitlines():
        s = raw.rstrip()
        if not buf and (not s.strip() or s.lstrip().startswith("#")):
            continue
        if s.lstrip().startswith("#"):
            continue
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        lines.append(buf + s)
        buf = ""
    args, stages = {}, []
    for line in lines:
        op, _, arg = line.strip().partition(" ")
        op = op.upper()
        arg = arg.strip()
        if op == "ARG" and not stages:
            k, _, v = arg.partition("=")
            args[k] = v
        elif op == "FROM":
            m = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$", arg, re.I)
            stages.append({"name": (m.group(2) or "").lower(), "base": m.group(1), "ins": []})
        elif stages:
            stages[-1]["ins"].append((op, arg))
    return args, stages


def apt_installs(stage):
    pkgs = []
    for op, arg in stage["ins"]:
        if op != "RUN":
            continue
        for part in re.split(r"&&|;", arg):
            words = shlex.split(part.replace("\\", " "))
            if "apt-get" in words and "install" in words:
                pkgs += [w for w in words[words.index("install") + 1:] if not w.startswith("-")]
    return pkgs


def tag_ok(image):
    if re.search(r"@sha256:[0-9a-f]{64}$", image):
        return True
    last = image.split("/")[-1]
    return ":" in last and last.split(":")[-1] not in ("", "latest")


def library_packages(binaries):
    """Debian packages that provide the shared libraries the binaries load."""
    libs = set()
    for b in binaries:
        out = subprocess.run(["ldd", b], capture_output=True, text=True, check=True).stdout
        libs |= {m.group(1) for m in re.finditer(r"=>\s+(/\S+)", out)}
    paths = sorted(libs | {os.path.realpath(x) for x in libs})
    r = subprocess.run(["dpkg", "-S", *paths], capture_output=True, text=True)
    owner = {}
    for line in r.stdout.splitlines():
        pkg, _, path = line.partition(": ")
        for name in pkg.split(", "):
            owner.setdefault(path.strip(), name.split(":")[0].strip())
    pkgs = set()
    for lib in libs:
        pkgs.add(owner.get(lib) or owner.get(os.path.realpath(lib)) or "?" + lib)
    return pkgs


def dependency_closure(pkgs):
    r = subprocess.run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
                        "--no-breaks", "--no-replaces", "--no-enhances", *pkgs], capture_output=True, text=True)
    names = set(pkgs)
    for line in r.stdout.splitlines():
        s = line.strip()
        if not s:
            continue
        if ":" in s:
            s = s.split(":", 1)[1].strip()
        s = s.strip("<>").split(":")[0]
        if re.match(r"^[a-z0-9][a-z0-9+.-]+$", s):
            names.add(s)
    return names


def check(text, dockerignore, services, deps, k8s, libs, closure_of):
    """Returns the list of problems."""
    problems = []
    p = problems.append
    args, stages = parse_dockerfile(text)
    names = {s["name"]: s for s in stages if s["name"]}
    for s in stages:
        base = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), s["base"])
        if base.lower() not in names and not tag_ok(base):
            p(f"stage {s['name'] or '?'}: base image {base} not pinned by a tag other than latest")
    build, runtime = names.get("build"), names.get("runtime")
    if not build or not runtime:
        p("stages build and runtime are required")
        return problems
    # the build stage: packages and targets
    built = apt_installs(build)
    for pkg in build_packages(deps):
        if pkg not in built:
            p(f"build stage does not install {pkg} (tools/dev/install-deps.sh)")
    run = " ".join(a for op, a in build["ins"] if op == "RUN")
    m = re.search(r"--target\s+((?:[\w-]+\s*)+)", run)
    targets = set(m.group(1).split()) if m else set()
    # the runtime stage: no build tools, a numeric unprivileged user
    rt = apt_installs(runtime)
    for pkg in rt:
        if pkg.endswith("-dev") or pkg in ("g++", "gcc", "make", "cmake") or pkg.startswith("protobuf-compiler"):
            p(f"runtime stage installs build package {pkg}")
    users = [a for op, a in runtime["ins"] if op == "USER"]
    uid = users[-1].split(":")[0] if users else ""
    if not uid.isdigit() or int(uid) == 0:
        p(f"runtime stage must end with a numeric non-root USER, has {users}")
    if libs is not None:
        closure = closure_of(tuple(rt))
        for lib in sorted(libs):
            if lib not in closure:
                p(f"runtime stage lacks {lib}, which the binaries load")
    # one image per service
    stage_services = {n for n, s in names.items() if s["base"].lower() == "runtime"}
    if "kefuctl" not in targets:
        p("build stage does not build target kefuctl (the probes' client)")
    runtime_copies = [a for op, a in runtime["ins"] if op == "COPY"]
    for svc in sorted(services):
        s = names.get(svc)
        if not s or s["base"].lower() != "runtime":
            p(f"no stage `FROM runtime AS {svc}` for CMake target kefu-{svc}")
            continue
        if f"kefu-{svc}" not in targets:
            p(f"build stage does not build target kefu-{svc}")
        copies = [a for op, a in s["ins"] if op == "COPY"]
        want = f"--from=build /build/services/{services[svc]}/kefu-{svc} /usr/local/bin/kefu-{svc}"
        if want not in copies:
            p(f"stage {svc} must `COPY {want}`")
        if KEFUCTL_COPY not in copies + runtime_copies:
            p(f"image {svc} lacks kefuctl: runtime or {svc} stage must `COPY {KEFUCTL_COPY}`")
        shipped = {a.split()[-1] for a in copies + runtime_copies}
        entry = [a for op, a in s["ins"] if op == "ENTRYPOINT"]
        if entry != [f'["/usr/local/bin/kefu-{svc}"]']:
            p(f"stage {svc} ENTRYPOINT {entry}")
        dep = k8s.get(svc)
        if not dep:
            p(f"no Deployment {svc} in k8s/base/services")
            continue
        if not dep["image"].startswith(f"kefu-{svc}:"):
            p(f"k8s Deployment {svc} runs {dep['image']}, not the image kefu-{svc}")
        exposed = sorted(int(x) for op, a in s["ins"] if op == "EXPOSE" for x in a.split())
        if exposed != dep["ports"]:
            p(f"stage {svc} exposes {exposed}, the Deployment uses {dep['ports']}")
        if uid.isdigit() and dep["uid"] != int(uid):
            p(f"k8s runs {svc} as uid {dep['uid']}, the image as {uid}")
        for prog in dep["probes"]:
            if prog not in shipped:
                p(f"k8s probes {svc} with {prog}, which image {svc} does not have")
    for svc in sorted(stage_services - set(services)):
        if not os.path.isdir(os.path.join(REPO, "services", svc)):
            p(f"stage {svc} has no services/{svc}")
    for svc in sorted(set(k8s) - stage_services):
        p(f"k8s deploys {svc}, which has no image stage")
    # build context
    ignored = {l.strip().rstrip("/") for l in dockerignore.splitlines() if l.strip() and not l.startswith("#")}
    for must in ("build", ".git"):
        if must not in ignored:
            p(f".dockerignore must exclude {must}")
    for need in ("CMakeLists.txt", "protos", "common", "services", "tools", "tests"):
        if need in ignored:
            p(f".dockerignore excludes {need}, which the build needs")
    return problems


def main():
    services = cmake_services()
    deps = install_deps_packages()
    k8s = k8s_deployments()
    text = read("Dockerfile")
    ignore = read(".dockerignore")
    libs = None
    if BUILD:
        binaries = [b for s, d in services.items()
                    for b in [os.path.join(BUILD, "services", d, f"kefu-{s}")] if os.path.exists(b)]
        kefuctl = os.path.join(BUILD, "tools", "kefuctl", "kefuctl")
        if binaries and os.path.exists(kefuctl):
            binaries.append(kefuctl)
        if binaries:
            libs = library_packages(binaries)
    cache = {}

    def closure_of(pkgs):
        if pkgs not in cache:
            cache[pkgs] = dependency_closure(list(pkgs))
        return cache[pkgs]

    passed = failed = 0
    print(f"CMake service executables: {', '.join('kefu-' + s for s in sorted(services))}")
    if libs is not None:
        print(f"packages of the shared libraries they load: {', '.join(sorted(libs))}")
    problems = check(text, ignore, services, deps, k8s, libs, closure_of)
    for pr in problems:
        print("FAIL", pr)
    if problems:
        failed += 1
    else:
        passed += 1
        print("ok   Dockerfile in step with CMake, install-deps.sh and k8s/")

    # self-test: each broken copy must be caught
    some = sorted(services)[0]
    mutants = [
        ("a service without an image", lambda t: re.sub(rf"FROM runtime AS {some}\n.*?ENTRYPOINT[^\n]*\n", "", t, flags=re.S)),
        ("a target not built", lambda t: t.replace(f" kefu-{some}", "", 1)),
        ("base image latest", lambda t: re.sub(r"ARG DEBIAN_IMAGE=\S+", "ARG DEBIAN_IMAGE=debian:latest", t)),
        ("base image without a tag", lambda t: re.sub(r"ARG DEBIAN_IMAGE=\S+", "ARG DEBIAN_IMAGE=debian", t)),
        ("a build package missing", lambda t: t.replace("libmysqlcppconn-dev", "", 1)),
        ("a compiler in the runtime", lambda t: t.replace("      tzdata", "      tzdata g++", 1)),
        ("running as root", lambda t: t.replace("USER 10001:10001", "USER root")),
        ("wrong binary copied", lambda t: t.replace(f"/build/services/{services[some]}/kefu-{some} ", "/build/tools/kefuctl/kefuctl ", 1)),
        ("ports out of step with k8s", lambda t: re.sub(r"EXPOSE 5005(\d) ", r"EXPOSE 6005\1 ", t, count=1)),
        ("kefuctl not built", lambda t: t.replace(" kefuctl \\\n", " \\\n", 1)),
        ("kefuctl not shipped", lambda t: t.replace(f"COPY {KEFUCTL_COPY}", "", 1)),
        ("kefuctl shipped elsewhere", lambda t: t.replace("/usr/local/bin/kefuctl\n", "/opt/kefuctl\n", 1)),
    ]
    if libs is not None:
        mutants.append(("a runtime library missing", lambda t: t.replace("libmysqlcppconn7v5 libmariadb3", "", 1)))
        mutants.append(("libjwt missing at runtime", lambda t: t.replace("libjwt0 ", "", 1)))
    for name, mutate in mutants:
        broken = mutate(text)
        if broken == text:
            print(f"FAIL self-test mutation '{name}' changed nothing")
            failed += 1
            continue
        found = check(broken, ignore, services, deps, k8s, libs, closure_of)
        if found:
            passed += 1
            print(f"ok   caught: {name} -> {found[0]}")
        else:
            failed += 1
            print(f"FAIL not caught: {name}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
