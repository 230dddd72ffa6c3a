#!/usr/bin/python3
"""An independent oracle for Ferret's findings.

Given packages (what each is matched as: ecosystem, release, name, version) and advisory
files (Debian security tracker JSON, OSV JSON or JSON lines), prints the findings the
formats' own rules give, compared with the reference implementations: `dpkg
--compare-versions`, python3-rpm's `labelCompare`, `packaging` (PEP 440), python3-semver
Maven's own `ComparableVersion` (Debian's maven-artifact jar, run by the JDK) and aboutcode's
`univers` for Alpine (in its own venv, `apk_order.py`). It shares no code with Ferret.

Input: a JSON file {"packages": [{"id", "ecosystem", "release", "name", "version"[, "arch",
"source", "module", "os_id", "version_id"]}], "debian_tracker": [paths], "osv": [paths], "oval": [OVAL XML files],
"updateinfo": [Amazon updateinfo.xml files], "csaf_vex": [CSAF VEX files],
"secdb": [Alpine secdb YAML or JSON], "apk_python": a Python with `univers`, "nvd": [NVD JSON 2.0 files],
"cve5": [CVE JSON 5 record files], "ratings_osv": [OSV files read for ratings only]}.
`oracle.py --named FILE` prints instead the packages and versions the OVAL and updateinfo
files of FILE name, per ecosystem and release, for a test to install.
Output (stdout): {"findings": [{"package", "id", "related", "records": {record: fix}}],
"skipped": [{"package", "record"}] (a version in the record does not parse),
"unparsable": [package ids] (the installed version does not parse)} where fix is {"state": "fixed", "versions": [...]},
{"state": "not-fixed"} or {"state": "will-not-fix"}.

Rules, from the formats:
- Debian tracker (per source package, CVE, release codename): `resolved` with
  fixed_version 0 never affected; `resolved` with V affected below V, fixed in V; `open` or
  `undetermined` affected, not fixed, unless the no-DSA reason is `ignored` (will not fix).
- OSV: withdrawn records do not stand. An entry applies when its ecosystem string names the package's ecosystem and
  release exactly (`Ubuntu:22.04:LTS` is Ubuntu 22.04; `Ubuntu:Pro:…` is another
  ecosystem). A version is affected when listed in `versions` or inside an ECOSYSTEM or
  SEMVER range (GIT ranges are commits, not versions): walking the events in version order
  up to the installed version, `introduced` opens, `fixed` and `limit` close, `last_affected`
  closes above it. The fix versions are the `fixed` events above the installed version of
  the ranges that contain it. RPM module builds (`.module+`/`.module_` in the release) and
  the distro's own builds are separate streams: a record of one never applies to the other.
- OVAL (Oracle Linux, Azure Linux, CBL-Mariner, Photon OS): each definition is evaluated
  as an OVAL interpreter would on a machine holding the package and its distro's release
  package: `rpminfo` tests on the package compare its EVR with the state's (`less than`:
  fixed in that version; `less than or equal`: affected, no fix), tests on the
  `*-release` package match the release (`^8`) and the machine's architecture (the
  package's own; `noarch` is in every architecture), signature and module tests hold.
  Microsoft's definitions name source packages and their release is the `.azlN`/`.cmN`
  tag of the versions. Every CVE of a true definition is a record (else its ELSA/PHSA
  id), rated by the definition's severity. Module builds, Oracle's Ksplice builds
  (`.ksplice`) and the distro's own builds are separate streams.
- CSAF VEX (Red Hat, SUSE): a status entry is a component of a product stream (a
  platform with a CPE), or of a module of one. It applies to an image whose os-release
  installs from that stream: Red Hat Enterprise Linux N from the `enterprise_linux:N`
  streams (not EUS/E4S/AUS/TUS), or, when its content manifests name its repositories,
  from the streams Red Hat's repository-to-CPE map ("repository_to_cpe") gives them
  (a stream's CPE, or that CPE without its edition), SLES N SPm from SUSE's `sle*` products of `N:spm`,
  openSUSE Leap, Tumbleweed and SLE Micro from their own. Red Hat's `fixed` source builds
  (`name-E:V-R.src`) fix the package built from that source, in its module stream
  (`module:stream/name`) if it is a module's; SUSE's `recommended` builds fix the binary
  package of that name. `known_affected`: affected, no fix, "will not fix" when the
  remediation is `no_fix_planned`. The `impact` threat is the vendor's rating.
- Alpine secdb: a package (by origin, in the branch's release) is affected by every id
  listed under a `secfixes` version above its own, fixed in that version; `0` means never
  affected. Versions are ordered by aboutcode's `univers` (AlpineLinuxVersion), run by
  `apk_order.py` in its own venv ("apk_python").
- Amazon updateinfo: a `security` update fixes its CVEs in the binary packages it lists,
  in the release its ALAS id names (`ALAS-` 1, `ALAS2` 2, `ALAS2022`, `ALAS2023`); an
  extras topic's version (`ALAS2KERNEL-5.15-…`) is a lower bound for packages fixed
  within that version line.
- One finding per vulnerability: records sharing an id or alias are one finding, named by
  its CVE when it has one, else the lowest record id.
- Severity (each finding's "severity" and "source"): the distro's rating of the matched
  records (Debian urgency, the OVAL definition's or ALAS update's severity) when one is a
  rating ("not yet assigned" and "end-of-life" are not;
  "unimportant" is NEGLIGIBLE; the highest wins); else, over every id of the finding, the
  first source in the order NVD (Primary metrics), CNA (NVD Secondary metrics not from
  CISA's ADP, CVE 5 CNA container), CISA ADP, GitHub (GHSA OSV records), other OSV
  records: within it the newest CVSS version (major, then minor), then the highest base
  score (as stated, else computed by the `cvss` package), else its highest qualitative
  rating; else UNKNOWN. Source is printed "nvd 3.1", "cna 4.0", "ghsa", "debian".
"""

import functools
import json
import os
import re
import subprocess
import sys

import xml.etree.ElementTree as ET

import cvss
import rpm
import semver
from packaging.utils import canonicalize_name
from packaging_legacy.version import parse as parse_python_version

CODENAMES = {"9": "stretch", "10": "buster", "11": "bullseye", "12": "bookworm",
             "13": "trixie", "14": "forky"}


class Unparsable(Exception):
    pass


@functools.lru_cache(maxsize=None)
def dpkg_cmp(a, b):
    for op, result in (("lt", -1), ("eq", 0)):
        r = subprocess.run(["dpkg", "--compare-versions", a, op, b])
        if r.returncode == 0:
            return result
        if r.returncode not in (0, 1):
            raise Unparsable(f"{a} / {b}")
    return 1


def evr(v):
    epoch = None
    if ":" in v:
        epoch, v = v.split(":", 1)
    version, _, release = v.partition("-")
    return (epoch or "0", version, release or None)


def rpm_cmp(a, b):
    return rpm.labelCompare(evr(a), evr(b))


def pep440_cmp(a, b):
    # PEP 440 versions, and the legacy ones PyPI still holds ordered below them by
    # packaging's LegacyVersion rules (which osv.dev keeps through packaging-legacy).
    x, y = parse_python_version(a), parse_python_version(b)
    return (x > y) - (x < y)


def semver_cmp(a, b):
    try:
        return semver.VersionInfo.parse(a.removeprefix("v")).compare(
            semver.VersionInfo.parse(b.removeprefix("v")))
    except ValueError as e:
        raise Unparsable(str(e))


# Maven's own ordering: its ComparableVersion (maven-artifact), whose main() prints the
# comparison of each argument with the next. Every pair the run needs is asked in one JVM.
MAVEN_ORDER = {}
MAVEN_LINE = re.compile(r"^\s+(\S+) (<|==|>) (\S+)$")


def maven_prepare(versions):
    versions = sorted(set(versions))
    args = []
    for i, a in enumerate(versions):
        for b in versions[i + 1:]:
            args += [a, b]
    if not args:
        return
    jar = os.environ.get("FERRET_MAVEN_ARTIFACT_JAR", "/usr/share/java/maven3-artifact.jar")
    out = subprocess.run(
        ["java", "-cp", jar, "org.apache.maven.artifact.versioning.ComparableVersion", *args],
        check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        m = MAVEN_LINE.match(line)
        if m:
            a, op, b = m.groups()
            r = {"<": -1, "==": 0, ">": 1}[op]
            MAVEN_ORDER[(a, b)] = r
            MAVEN_ORDER[(b, a)] = -r


def maven_cmp(a, b):
    if a == b:
        return 0
    return MAVEN_ORDER[(a, b)]


RPM_DISTROS = ("Rocky Linux", "AlmaLinux", "Oracle Linux", "Amazon Linux", "Azure Linux",
               "CBL-Mariner", "Photon OS", "Red Hat", "SUSE")

SCHEMES = {
    "Debian": dpkg_cmp, "Ubuntu": dpkg_cmp,
    **{d: rpm_cmp for d in RPM_DISTROS},
    "PyPI": pep440_cmp, "crates.io": semver_cmp, "Go": semver_cmp, "npm": semver_cmp,
    "Maven": maven_cmp,
}


def normal_name(ecosystem, name):
    if ecosystem == "PyPI":
        return canonicalize_name(name)
    if ecosystem in ("crates.io", "npm"):
        return name.lower()
    return name


def split_ecosystem(text):
    """`Ubuntu:22.04:LTS` → ("Ubuntu", "22.04"); `Debian:12` → ("Debian", "12")."""
    name, _, release = text.partition(":")
    if name == "Ubuntu" and release.endswith(":LTS"):
        release = release[: -len(":LTS")]
    return name, release


def is_module(v):
    return ".module+" in v or ".module_" in v


def in_range(cmp, v, events):
    """Whether the range contains v, walking the events in version order."""
    def key(e):
        (kind, ver), = e.items()
        return kind, ver
    evs = [key(e) for e in events if key(e)[1] != "*"]
    # introduced 0 first; then by version, an introduction before a closing event.
    evs.sort(key=functools.cmp_to_key(lambda x, y: (
        -1 if x[1] == "0" and x[0] == "introduced" and not (y[1] == "0" and y[0] == "introduced") else
        1 if y[1] == "0" and y[0] == "introduced" and not (x[1] == "0" and x[0] == "introduced") else
        cmp(x[1], y[1]) or ((x[0] != "introduced") - (y[0] != "introduced")))))
    affected = False
    for kind, ver in evs:
        c = -1 if (kind == "introduced" and ver == "0") else cmp(ver, v)
        if kind == "introduced" and c <= 0:
            affected = True
        elif kind in ("fixed", "limit") and c <= 0:
            affected = False
        elif kind == "last_affected" and c < 0:
            affected = False
        elif c > 0:
            break
    return affected


def osv_verdict(ecosystem, v, entry):
    cmp = SCHEMES[ecosystem]
    if ecosystem in ("Rocky Linux", "AlmaLinux"):
        versions = [x for r in entry.get("ranges", []) for e in r["events"] for x in e.values()]
        versions += entry.get("versions", [])
        if any(is_module(x) for x in versions) != is_module(v):
            return None
    hit = False
    fixes = set()
    for r in entry.get("ranges", []):
        if r["type"] not in ("ECOSYSTEM", "SEMVER"):
            continue
        rcmp = semver_cmp if (r["type"] == "SEMVER" and ecosystem != "Go") else cmp
        if in_range(rcmp, v, r["events"]):
            hit = True
            for e in r["events"]:
                if "fixed" in e and rcmp(e["fixed"], v) > 0:
                    fixes.add(e["fixed"])
    if not hit and v in entry.get("versions", []):
        hit = True
    if not hit:
        return None
    if fixes:
        return {"state": "fixed", "versions": sorted(
            fixes, key=functools.cmp_to_key(lambda a, b: cmp(a, b) or (a > b) - (a < b)))}
    return {"state": "not-fixed"}


QUALITATIVE = {"critical": "CRITICAL", "high": "HIGH", "important": "HIGH", "medium": "MEDIUM",
               "moderate": "MEDIUM", "low": "LOW", "negligible": "NEGLIGIBLE",
               "unimportant": "NEGLIGIBLE"}
RANK = ["UNKNOWN", "NEGLIGIBLE", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
SOURCES = ["vendor", "nvd", "cna", "cisa-adp", "ghsa", "osv"]
CISA_ADP = "134c704f-9b21-4f2e-91b3-4a467353bcc0"


def qualitative(text):
    if not isinstance(text, str):
        return None
    return QUALITATIVE.get(text.strip().rstrip("*").lower())


def band(score):
    if score >= 9.0:
        return "CRITICAL"
    if score >= 7.0:
        return "HIGH"
    if score >= 4.0:
        return "MEDIUM"
    if score > 0.0:
        return "LOW"
    return "NEGLIGIBLE"


def vector_score(vector):
    """(version, base score) of a vector, computed by the cvss package; None if invalid."""
    v = vector.strip()
    try:
        if v.startswith("CVSS:4"):
            return "4.0", float(cvss.CVSS4(v).base_score)
        if v.startswith("CVSS:3"):
            c = cvss.CVSS3(v)
            return v[5:8], float(c.scores()[0])
        v = v.removeprefix("CVSS:2.0/").strip("()")
        return "2.0", float(cvss.CVSS2(v).scores()[0])
    except Exception:
        return None


def rating(source, version, score, qual):
    """A rating as (source, version or None, score or None, severity)."""
    if score is not None:
        return (source, version, score, band(score))
    q = qualitative(qual)
    return (source, None, None, q) if q else None


def load_ratings(spec, osv_records):
    """id -> [rating]."""
    out = {}
    for path in spec.get("nvd", []):
        doc = json.load(open(path))
        for item in doc["vulnerabilities"]:
            cve = item["cve"]
            if cve.get("vulnStatus") == "Rejected":
                continue
            for kind, metrics in cve.get("metrics", {}).items():
                if not kind.startswith("cvssMetricV"):
                    continue
                for m in metrics:
                    src = "nvd" if m["type"] == "Primary" else \
                        "cisa-adp" if m["source"] == CISA_ADP else "cna"
                    data = m["cvssData"]
                    r = rating(src, data["version"], float(data["baseScore"]), None)
                    out.setdefault(cve["id"], []).append(r)
    for path in spec.get("cve5", []):
        rec = json.load(open(path))
        if rec["cveMetadata"].get("state") == "REJECTED":
            continue
        cid = rec["cveMetadata"]["cveId"]
        containers = [("cna", rec["containers"].get("cna", {}))]
        containers += [("cisa-adp", a) for a in rec["containers"].get("adp", [])
                       if a.get("providerMetadata", {}).get("shortName") == "CISA-ADP"]
        for src, c in containers:
            for m in c.get("metrics", []):
                for key in ("cvssV4_0", "cvssV3_1", "cvssV3_0", "cvssV2_0"):
                    if key in m:
                        d = m[key]
                        score = d.get("baseScore")
                        if score is None:
                            parsed = vector_score(d["vectorString"])
                            score = parsed and parsed[1]
                        r = rating(src, d["version"], score, d.get("baseSeverity"))
                        if r:
                            out.setdefault(cid, []).append(r)
                content = (m.get("other") or {}).get("content")
                if isinstance(content, dict):
                    for k in ("value", "text", "other"):
                        if isinstance(content.get(k), str):
                            r = rating(src, None, None, content[k])
                            if r:
                                out.setdefault(cid, []).append(r)
                            break
    for rec in osv_records:
        src = "ghsa" if rec["id"].startswith("GHSA-") else "osv"
        found = []
        for sev in rec.get("severity", []):
            if sev["type"] in ("CVSS_V2", "CVSS_V3", "CVSS_V4"):
                parsed = vector_score(sev["score"])
                if parsed:
                    found.append(rating(src, parsed[0], parsed[1], None))
        r = rating(src, None, None, (rec.get("database_specific") or {}).get("severity"))
        if r:
            found.append(r)
        for i in {rec["id"], *rec.get("aliases", [])}:
            out.setdefault(i, []).extend(found)
    return out


def choose(vendor, ids, ratings):
    """(severity, source label) by the rule; vendor: [(severity, distro label)]."""
    if vendor:
        best = max(vendor, key=lambda v: (RANK.index(v[0]), v[1]))
        return best
    candidates = [r for i in ids for r in ratings.get(i, [])]
    for src in SOURCES[1:]:
        mine = [r for r in candidates if r[0] == src]
        scored = [r for r in mine if r[2] is not None]
        if scored:
            def key(r):
                major, minor = (int(x) for x in r[1].split("."))
                return (major, minor, r[2])
            best = max(scored, key=key)
            return best[3], f"{src} {best[1]}"
        if mine:
            return max((r[3] for r in mine), key=RANK.index), src
    return "UNKNOWN", None


def is_ksplice(v):
    return ".ksplice" in v


def xml_local(tag):
    return tag.rsplit("}", 1)[-1]


OVAL_VENDORS = {"com.oracle.elsa": "Oracle Linux", "com.microsoft.azurelinux": "Azure Linux",
                "com.microsoft.cbl-mariner": "CBL-Mariner", "com.vmware.phsa": "Photon OS"}


def dist_tag(evr):
    """`0:2.6.7-3.azl3` → "3", `…-1.cm2` → "2"; None without such a tag."""
    release = evr.rsplit("-", 1)[-1] if "-" in evr else ""
    for part in release.split("."):
        m = re.fullmatch(r"(?:azl|cm)(\d+)", part)
        if m:
            return m.group(1)
    return None


def oval_hits(path, packages, record_hit, vendor_rating):
    """Evaluates every definition of an OVAL document for every package, as an OVAL
    interpreter would on a machine holding just that package (and its release package)."""
    root = ET.parse(path).getroot()
    by_local = {}
    for el in root.iter():
        if el.get("id"):
            by_local[el.get("id")] = el
    objects = {}
    for el in root.iter():
        if xml_local(el.tag) == "rpminfo_object":
            name = next((c.text for c in el if xml_local(c.tag) == "name"), None)
            objects[el.get("id")] = (name or "").strip()
    # Azure Linux and CBL-Mariner name no release: their versions' dist tags do, and a
    # version without one takes the document's most common.
    tags = {}
    for el in root.iter():
        if xml_local(el.tag) == "evr" and el.text:
            t = dist_tag(el.text.strip())
            if t:
                tags[t] = tags.get(t, 0) + 1
    doc_release = max(tags, key=tags.get) if tags else None

    def state_holds(state, p, version, env):
        """Every field of the state holds for the package (env: a release package)."""
        out = None
        for f in state:
            field, op, value = xml_local(f.tag), f.get("operation", "equals"), (f.text or "").strip()
            if field == "signature_keyid":
                continue
            if field == "evr":
                if env:
                    return False, None
                c = rpm_cmp(version, value)
                if op == "less than":
                    ok, out = c < 0, ("fixed", value)
                elif op == "less than or equal":
                    ok, out = c <= 0, ("not-fixed", value)
                else:
                    return False, None
                if not ok:
                    return False, None
            elif field == "arch":
                arch = p.get("arch")
                # A noarch package is in every architecture's branch.
                if arch != "noarch" and not re.search(value, arch or ""):
                    return False, None
            elif field == "version":
                target = (p["release"] + ".0") if env else version.split(":")[-1].rsplit("-", 1)[0]
                if not re.search(value, target):
                    return False, None
            elif field == "release":
                if not re.search(value, version.rsplit("-", 1)[-1]):
                    return False, None
            else:
                return False, None
        return True, out

    def criterion(el, p, name, version):
        test = by_local[el.get("test_ref")]
        obj_ref = next((c.get("object_ref") for c in test if xml_local(c.tag) == "object"), None)
        states = [by_local[c.get("state_ref")] for c in test if xml_local(c.tag) == "state"]
        if obj_ref not in objects:
            # Module and file checks: the module rule below decides streams.
            return True, []
        obj = objects[obj_ref]
        env = obj != name and obj.endswith("-release")
        if obj != name and not env:
            return False, []
        fixes = []
        for st in states:
            ok, fix = state_holds(st, p, version, env)
            if not ok:
                return False, []
            if fix:
                fixes.append(fix)
        return True, fixes

    def evaluate(el, p, name, version):
        kind = xml_local(el.tag)
        if kind == "criterion":
            ok, fixes = criterion(el, p, name, version)
        else:
            results = [evaluate(c, p, name, version) for c in el
                       if xml_local(c.tag) in ("criteria", "criterion")]
            if el.get("operator", "AND").upper() == "OR":
                ok = any(r[0] for r in results)
                fixes = [f for r in results if r[0] for f in r[1]]
            else:
                ok = all(r[0] for r in results)
                fixes = [f for r in results for f in r[1]] if ok else []
        if el.get("negate") == "true":
            return (not ok), []
        return ok, fixes

    for d in root.iter():
        if xml_local(d.tag) != "definition":
            continue
        ecosystem = OVAL_VENDORS.get(d.get("id", "").split(":")[1] if ":" in d.get("id", "") else "")
        if ecosystem is None:
            continue
        meta = next(c for c in d if xml_local(c.tag) == "metadata")
        title = next((c.text or "" for c in meta if xml_local(c.tag) == "title"), "").strip()
        severity = next((x.text for x in meta.iter() if xml_local(x.tag) == "severity"), None)
        cves = set()
        for x in meta.iter():
            if xml_local(x.tag) == "cve" and (x.text or "").strip().startswith("CVE-"):
                cves.add(x.text.strip())
            if xml_local(x.tag) == "reference" and x.get("source", "").upper() == "CVE":
                m = re.search(r"CVE-\d+-\d+", x.get("ref_id", ""))
                if m:
                    cves.add(m.group(0))
        if not cves:
            first = title.split()[0].rstrip(":") if title else ""
            cves = {first} if first.startswith(("ELSA-", "PHSA-")) else set()
        criteria = next((c for c in d if xml_local(c.tag) == "criteria"), None)
        if criteria is None or not cves:
            continue
        for p in packages:
            if p["ecosystem"] != ecosystem:
                continue
            # Microsoft's OVAL names source packages; Oracle's and VMware's binary ones.
            name = p.get("source") if ecosystem in ("Azure Linux", "CBL-Mariner") else p["name"]
            version = p["version"]
            ok, fixes = evaluate(criteria, p, name, version)
            kept = []
            for state, evr in fixes:
                if ecosystem in ("Azure Linux", "CBL-Mariner") and \
                        (dist_tag(evr) or doc_release) != p["release"]:
                    continue
                # RPM module builds, Ksplice builds and the distro's own builds are
                # separate streams: a fix in one never applies to another.
                if is_module(evr) != is_module(version) or is_ksplice(evr) != is_ksplice(version):
                    continue
                kept.append((state, evr.removeprefix("0:")))
            if not ok or not kept:
                continue
            fixed = sorted({evr for state, evr in kept if state == "fixed"})
            fix = {"state": "fixed", "versions": fixed} if fixed else {"state": "not-fixed"}
            for cve in sorted(cves):
                record_hit(p, cve, {cve}, fix)
                vendor_rating(p, cve, severity)


def alas_release(alas_id):
    """(release, extras topic version) of an ALAS id, by Amazon's naming."""
    m = re.fullmatch(r"ALAS(2022|2023|2)?([A-Z0-9.]*(?:-[0-9.]+)?)?-(\d{4})-(\d+)", alas_id)
    if not m:
        return None
    release = m.group(1) or "1"
    topic = (m.group(2) or "").lstrip("-")
    v = re.search(r"([0-9][0-9.]*)$", topic)
    return release, (v.group(1).strip(".") if v else None)


def updateinfo_hits(path, packages, record_hit, vendor_rating):
    """Amazon's updateinfo: a security update fixes its CVEs in the packages it lists."""
    root = ET.parse(path).getroot()
    for u in root.iter("update"):
        if u.get("type") != "security":
            continue
        alas = u.findtext("id").strip()
        parsed = alas_release(alas)
        if not parsed:
            continue
        release, topic = parsed
        cves = {r.get("id") for r in u.iter("reference")
                if r.get("type") == "cve" and r.get("id", "").startswith("CVE-")} or {alas}
        severity = u.findtext("severity")
        fixed = {}
        for pkg in u.iter("package"):
            epoch = pkg.get("epoch") or "0"
            evr = ("" if epoch == "0" else epoch + ":") + pkg.get("version") + "-" + pkg.get("release")
            fixed.setdefault(pkg.get("name"), set()).add(evr)
        for p in packages:
            if p["ecosystem"] != "Amazon Linux" or p["release"] != release:
                continue
            for evr in sorted(fixed.get(p["name"], ())):
                # An extras topic (kernel-5.15) holds the versions of its line: a package
                # fixed within the line is not in the topic below the line's version.
                if topic and rpm_cmp(topic, evr) <= 0 and rpm_cmp(p["version"], topic) < 0:
                    continue
                if rpm_cmp(p["version"], evr) < 0:
                    for cve in sorted(cves):
                        record_hit(p, cve, {cve}, {"state": "fixed", "versions": [evr]})
                        vendor_rating(p, cve, severity)


APK_RANK = {}


def apk_prepare(versions, python):
    """Ranks every Alpine version through `apk_order.py` (univers, in its own venv)."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apk_order.py")
    out = subprocess.run([python, script], input=json.dumps(sorted(set(versions))),
                         capture_output=True, text=True, check=True).stdout
    APK_RANK.update(json.loads(out))


def apk_cmp(a, b):
    if a not in APK_RANK or b not in APK_RANK:
        raise Unparsable(a if a not in APK_RANK else b)
    return (APK_RANK[a] > APK_RANK[b]) - (APK_RANK[a] < APK_RANK[b])


SCHEMES["Alpine"] = apk_cmp


def read_secdb(path):
    import yaml
    with open(path) as f:
        return yaml.safe_load(f) if path.endswith((".yaml", ".yml")) else json.load(f)


def secdb_hits(path, packages, record_hit):
    """Alpine secdb: a package (by origin) is affected by each id of a `secfixes` version
    above its own, fixed in that version; a `0` version means never affected."""
    doc = read_secdb(path)
    release = (doc.get("distroversion") or "").lstrip("v")
    for entry in doc.get("packages") or []:
        pkg = entry.get("pkg") or {}
        for fixed, ids in (pkg.get("secfixes") or {}).items():
            fixed = str(fixed).strip()
            if fixed == "0":
                continue
            for line in ids or []:
                for token in str(line).split():
                    cid = token.strip("()[],.;:")
                    if "-" not in cid or not any(c.isdigit() for c in cid):
                        continue
                    for p in packages:
                        if p["ecosystem"] != "Alpine" or p["release"] != release or \
                                p["name"] != pkg.get("name"):
                            continue
                        try:
                            if apk_cmp(p["version"], fixed) >= 0:
                                continue
                        except Unparsable:
                            continue
                        record_hit(p, cid, {cid}, {"state": "fixed", "versions": [fixed]})


def named_versions(spec):
    """{ecosystem: {release: {package name: [versions]}}}: the packages and versions the OVAL
    and updateinfo files name, for a test to install."""
    out = {}

    def add(eco, release, name, version):
        out.setdefault(eco, {}).setdefault(release, {}).setdefault(name, set()).add(version)

    for path in spec.get("oval", []):
        root = ET.parse(path).getroot()
        ids = {el.get("id"): el for el in root.iter() if el.get("id")}
        names = {el.get("id"): (next((c.text for c in el if xml_local(c.tag) == "name"), "") or "").strip()
                 for el in root.iter() if xml_local(el.tag) == "rpminfo_object"}
        tags = {}
        for el in root.iter():
            if xml_local(el.tag) == "evr" and el.text and dist_tag(el.text.strip()):
                t = dist_tag(el.text.strip())
                tags[t] = tags.get(t, 0) + 1
        doc_release = max(tags, key=tags.get) if tags else None
        for d in root.iter():
            if xml_local(d.tag) != "definition":
                continue
            eco = OVAL_VENDORS.get(d.get("id", ":").split(":")[1])
            if eco is None:
                continue
            pairs, release = [], None
            for c in d.iter():
                if xml_local(c.tag) != "criterion":
                    continue
                test = ids[c.get("test_ref")]
                obj = next((x.get("object_ref") for x in test if xml_local(x.tag) == "object"), None)
                for st in test:
                    if xml_local(st.tag) != "state":
                        continue
                    state = ids.get(st.get("state_ref"))
                    for f in state if state is not None else []:
                        text = (f.text or "").strip()
                        if xml_local(f.tag) == "evr" and obj in names:
                            pairs.append((names[obj], text.removeprefix("0:")))
                        elif xml_local(f.tag) == "version" and names.get(obj, "").endswith("-release"):
                            m = re.match(r"\^(\d+)", text)
                            release = m.group(1) if m else release
            for name, version in pairs:
                r = release if eco in ("Oracle Linux", "Photon OS") else (dist_tag(version) or doc_release)
                if r:
                    add(eco, r, name, version)
    for path in spec.get("updateinfo", []):
        root = ET.parse(path).getroot()
        for u in root.iter("update"):
            parsed = alas_release(u.findtext("id").strip())
            if not parsed or u.get("type") != "security":
                continue
            for pkg in u.iter("package"):
                epoch = pkg.get("epoch") or "0"
                evr = ("" if epoch == "0" else epoch + ":") + pkg.get("version") + "-" + pkg.get("release")
                add("Amazon Linux", parsed[0], pkg.get("name"), evr)
    # CSAF VEX: per product stream CPE, "module id/name" (Red Hat: source packages; the
    # module id empty outside modules) or the binary name (SUSE).
    for path in spec.get("csaf_vex", []):
        for vendor, _, status, component, module, cpe, _, _ in csaf_statuses(path):
            if status == "fixed":
                parsed = csaf_component(vendor, component)
                if not parsed:
                    continue
                name, evr = parsed
            else:
                name, evr = component, None
            if "/" in name:
                continue
            key = ((module or "") + "/" + name) if vendor == "Red Hat" else name
            slot = out.setdefault(vendor, {}).setdefault(cpe, {}).setdefault(key, set())
            if evr:
                slot.add(evr)
    return {e: {r: {n: sorted(v) for n, v in names.items()} for r, names in rs.items()}
            for e, rs in out.items()}


def cpe_fields(cpe):
    """`cpe:/o:redhat:enterprise_linux:9::baseos` → ["o", "redhat", "enterprise_linux", "9", "", "baseos"]."""
    return cpe[len("cpe:/"):].split(":") if cpe.startswith("cpe:/") else []


def field(parts, i):
    return parts[i] if i < len(parts) else ""


def platform_holds(p, cpe):
    """Whether an image of the package's os-release installs from this product stream."""
    c = cpe_fields(cpe)
    os_id, version_id = p["os_id"], p["version_id"]
    if os_id in ("rhel", "centos") and p.get("streams"):
        # The streams of the repositories its content manifests name: the same CPE, or
        # the same without the edition (a release's product covers its editions).
        return any(cpe == s or (len(c) <= 5 and c == cpe_fields(s)[:len(c)] and len(cpe_fields(s)) > 5)
                   for s in p["streams"])
    if os_id in ("rhel", "centos"):
        # The release's own streams (BaseOS, AppStream, CRB, …); EUS/E4S/AUS/TUS are others.
        return field(c, 1) == "redhat" and field(c, 2) == "enterprise_linux" and \
            field(c, 3) == version_id.split(".")[0]
    if os_id in ("sles", "sled", "sles_sap"):
        major, _, sp = version_id.partition(".")
        return field(c, 1) == "suse" and field(c, 2).startswith("sle") and \
            field(c, 3) == major and field(c, 4) == ("" if sp in ("", "0") else "sp" + sp)
    if os_id == "opensuse-leap":
        return field(c, 1) == "opensuse" and field(c, 2) == "leap" and field(c, 3) == version_id
    if os_id == "opensuse-tumbleweed":
        return field(c, 1) == "opensuse" and field(c, 2) == "tumbleweed"
    if os_id in ("sle-micro", "sl-micro"):
        return field(c, 1) == "suse" and field(c, 2) == os_id and field(c, 3) == version_id
    return False


def csaf_statuses(path):
    """(vendor, cve, status, component, module id or None, platform CPE, remediation
    category, impact) for every product status entry of a CSAF VEX document."""
    doc = json.load(open(path))
    namespace = doc["document"]["publisher"].get("namespace", "")
    vendor = "Red Hat" if "redhat.com" in namespace else "SUSE" if "suse.com" in namespace else None
    if vendor is None or doc["document"].get("category") != "csaf_vex":
        return
    cpes = {}

    def walk(branches):
        for b in branches:
            prod = b.get("product")
            if prod and "cpe" in prod.get("product_identification_helper", {}):
                cpes[prod["product_id"]] = prod["product_identification_helper"]["cpe"]
            walk(b.get("branches", []))
    walk(doc.get("product_tree", {}).get("branches", []))
    rel = {r["full_product_name"]["product_id"]: (r["product_reference"], r["relates_to_product_reference"])
           for r in doc.get("product_tree", {}).get("relationships", [])}
    for v in doc.get("vulnerabilities", []):
        cve = v.get("cve")
        if not cve:
            continue
        impact_all, impact = None, {}
        for t in v.get("threats", []):
            if t.get("category") == "impact":
                if "product_ids" in t:
                    impact.update({i: t["details"] for i in t["product_ids"]})
                else:
                    impact_all = t["details"]
        remediation = {}
        for r in v.get("remediations", []):
            for i in r.get("product_ids", []):
                if r["category"] in ("no_fix_planned", "none_available"):
                    remediation[i] = r["category"]
        ps = v.get("product_status", {})
        for status, ids in (("fixed", ps.get("fixed", []) + ps.get("recommended", [])),
                            ("affected", ps.get("known_affected", []))):
            for pid in ids:
                if pid not in rel:
                    continue
                component, parent = rel[pid]
                module = None
                if parent in rel:
                    module, parent = rel[parent]
                if parent not in cpes:
                    continue
                yield (vendor, cve, status, component, module, cpes[parent],
                       remediation.get(pid), impact.get(pid, impact_all))


def csaf_component(vendor, component):
    """(name, evr) of a fixed component: Red Hat's source builds `name-E:V-R.src` (None for
    other arches), SUSE's `name-V-R`."""
    if vendor == "Red Hat":
        m = re.fullmatch(r"(.+)-(\d+):([^-]+)-([^-]+)\.([^.]+)", component)
        if not m or m.group(5) != "src":
            return None
        epoch = m.group(2)
        return m.group(1), ("" if epoch == "0" else epoch + ":") + m.group(3) + "-" + m.group(4)
    m = re.fullmatch(r"(.+)-([^-]+)-([^-]+)", component)
    return (m.group(1), m.group(2) + "-" + m.group(3)) if m else None


def stream_of(label):
    parts = (label or "").split(":")
    return parts[0] + ":" + parts[1] if len(parts) >= 2 and parts[0] and parts[1] else None


def csaf_hits(path, packages, record_hit, vendor_rating):
    """CSAF VEX: a package of an image is affected by a status entry of its product streams:
    below the fixed build (Red Hat by source package and module stream, SUSE by binary
    package), or known affected (no fix; "will not fix" where no fix is planned)."""
    for vendor, cve, status, component, module, cpe, remediation, impact in csaf_statuses(path):
        if status == "fixed":
            parsed = csaf_component(vendor, component)
            if not parsed:
                continue
            name, evr = parsed
        else:
            name, evr = component, None
        if vendor == "Red Hat" and module and "/" not in name:
            name = stream_of(module) + "/" + name
        for p in packages:
            if p["ecosystem"] != vendor or not platform_holds(p, cpe):
                continue
            if vendor == "Red Hat":
                stream = stream_of(p.get("module"))
                key = (stream + "/" if stream else "") + p["source"]
            else:
                key = p["name"]
            if key != name:
                continue
            if evr is not None:
                if is_module(evr) != is_module(p["version"]) or rpm_cmp(p["version"], evr) >= 0:
                    continue
                fix = {"state": "fixed", "versions": [evr]}
            else:
                fix = {"state": "will-not-fix" if remediation == "no_fix_planned" else "not-fixed"}
            record_hit(p, cve, {cve}, fix)
            vendor_rating(p, cve, impact)


def read_osv(paths):
    for path in paths:
        with open(path) as f:
            if path.endswith(".jsonl"):
                for line in f:
                    if line.strip():
                        yield json.loads(line)
            else:
                yield json.load(f)


def main():
    if sys.argv[1] == "--named":
        json.dump(named_versions(json.load(open(sys.argv[2]))), sys.stdout, indent=1, sort_keys=True)
        return
    spec = json.load(open(sys.argv[1]))
    packages = spec["packages"]
    by_key = {}
    for p in packages:
        key = (p["ecosystem"], p["release"], normal_name(p["ecosystem"], p["name"]))
        by_key.setdefault(key, []).append(p)

    if spec.get("secdb"):
        versions = [p["version"] for p in packages if p["ecosystem"] == "Alpine"]
        for path in spec["secdb"]:
            versions += [str(v).strip() for e in read_secdb(path).get("packages") or []
                         for v in ((e.get("pkg") or {}).get("secfixes") or {})]
        apk_prepare(versions, spec["apk_python"])

    # Packages whose installed version does not parse cannot be matched at all.
    unparsable = []
    for key in list(by_key):
        keep = []
        for p in by_key[key]:
            try:
                SCHEMES[p["ecosystem"]](p["version"], p["version"])
                keep.append(p)
            except Unparsable:
                unparsable.append(p["id"])
        by_key[key] = keep

    # (package id) -> {record id: (ids, fix)}
    hits = {}
    skipped = []
    # (package id, record id) -> the distro's ratings
    vendor = {}

    def record_hit(p, rec_id, ids, fix):
        slot = hits.setdefault(p["id"], {})
        if rec_id in slot:
            old = slot[rec_id][1]
            if old["state"] == "fixed" and fix["state"] == "fixed":
                fix = {"state": "fixed", "versions": sorted(set(old["versions"]) | set(fix["versions"]))}
            elif old["state"] == "fixed":
                fix = old
        slot[rec_id] = (ids, fix)

    def vendor_rating(p, rec, severity):
        q = qualitative(severity)
        if q:
            vendor.setdefault((p["id"], rec), []).append((q, p["ecosystem"].lower()))

    for path in spec.get("debian_tracker", []):
        tracker = json.load(open(path))
        for source, cves in tracker.items():
            for cve, info in cves.items():
                releases = info.get("releases")
                if not isinstance(releases, dict):
                    continue
                for release_no, codename in CODENAMES.items():
                    r = releases.get(codename)
                    if r is None:
                        continue
                    for p in by_key.get(("Debian", release_no, source), []):
                        status = r.get("status")
                        if status == "resolved":
                            fixed = r.get("fixed_version")
                            if fixed is None or fixed == "0":
                                continue
                            try:
                                if dpkg_cmp(p["version"], fixed) >= 0:
                                    continue
                            except Unparsable:
                                skipped.append({"package": p["id"], "record": cve})
                                continue
                            fix = {"state": "fixed", "versions": [fixed]}
                        elif status in ("open", "undetermined"):
                            fix = {"state": "will-not-fix"} if r.get("nodsa_reason") == "ignored" \
                                else {"state": "not-fixed"}
                        else:
                            continue
                        record_hit(p, cve, {cve}, fix)
                        vendor_rating(p, cve, r.get("urgency"))

    all_packages = [p for ps in by_key.values() for p in ps]
    for path in spec.get("secdb", []):
        secdb_hits(path, all_packages, record_hit)
    for path in spec.get("oval", []):
        oval_hits(path, all_packages, record_hit, vendor_rating)
    for path in spec.get("updateinfo", []):
        updateinfo_hits(path, all_packages, record_hit, vendor_rating)
    if spec.get("repository_to_cpe"):
        repos = json.load(open(spec["repository_to_cpe"]))["data"]
        for p in all_packages:
            if p.get("content_sets"):
                p["streams"] = sorted({c for r in p["content_sets"] for c in repos.get(r, {}).get("cpes", [])})
    for path in spec.get("csaf_vex", []):
        csaf_hits(path, all_packages, record_hit, vendor_rating)

    records = list(read_osv(spec.get("osv", [])))
    maven_versions = [p["version"] for (eco, _, _), ps in by_key.items() if eco == "Maven" for p in ps]
    for rec in records:
        for entry in rec.get("affected", []):
            if entry.get("package", {}).get("ecosystem") == "Maven":
                maven_versions += entry.get("versions", [])
                maven_versions += [v for r in entry.get("ranges", []) for e in r["events"]
                                   for v in e.values() if v != "0"]
    maven_prepare(maven_versions)

    for rec in records:
        # A withdrawn record no longer stands.
        if rec.get("withdrawn"):
            continue
        ids = {rec["id"], *rec.get("aliases", [])}
        for entry in rec.get("affected", []):
            pkg = entry.get("package", {})
            eco, release = split_ecosystem(pkg.get("ecosystem", ""))
            if eco not in SCHEMES:
                continue
            for p in by_key.get((eco, release, normal_name(eco, pkg.get("name", ""))), []):
                try:
                    fix = osv_verdict(eco, p["version"], entry)
                except Unparsable:
                    skipped.append({"package": p["id"], "record": rec["id"]})
                    continue
                if fix is not None:
                    record_hit(p, rec["id"], ids, fix)

    ratings = load_ratings(spec, records + list(read_osv(spec.get("ratings_osv", []))))
    findings = []
    for pid, records in sorted(hits.items()):
        # Union records through shared ids.
        groups = []
        for rec_id, (ids, fix) in sorted(records.items()):
            ids = set(ids)
            members = {rec_id: fix}
            keep = []
            for g_ids, g_members in groups:
                if g_ids & ids:
                    ids |= g_ids
                    members.update(g_members)
                else:
                    keep.append((g_ids, g_members))
            groups = keep + [(ids, members)]
        for ids, members in groups:
            cves = sorted(i for i in ids if i.startswith("CVE-"))
            primary = cves[0] if cves else min(members)
            own = [q for rec in members for q in vendor.get((pid, rec), [])]
            severity, source = choose(own, ids, ratings)
            findings.append({
                "package": pid,
                "id": primary,
                "related": sorted(ids - {primary}),
                "records": members,
                "severity": severity,
                "source": source,
            })
    findings.sort(key=lambda f: (f["package"], f["id"]))
    json.dump({"findings": findings,
               "skipped": sorted(skipped, key=lambda s: (s["package"], s["record"])),
               "unparsable": sorted(unparsable)},
              sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
