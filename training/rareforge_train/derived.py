"""Derived packages' manifests (int8 builds, distilled students): their `evaluation` from a bench/throughput results
file, and writing model.json. Torch-free: training/quantize uses it too.

python3 training/rareforge_train/derived.py sync <package> [--throughput RESULTS.json] [--fast SAMPLER:STEPS --fast-evidence TEXT]
                                                 [--int8-results bench/int8/RESULTS.json]
    gives a derived package its base's condition again (calibration maps and feedback, with the feedback's meter
    files) after the base's condition changed on the same weights: the runtime refuses a derived package whose
    condition differs from its base's. Its `evaluation` and `fast` were measured with the old condition: --throughput
    replaces the evaluation with the package's rows in a bench/throughput results file measured with the new one, and
    --fast sets the fast setting measured there (without --fast the package keeps none); --int8-results takes an int8
    build's evaluation from a bench/int8 results file instead."""
import hashlib
import json
import os
import shutil

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def throughput_evaluation(results_path, name, sha):
    """The manifest's `evaluation`: the package's rows in a bench/throughput results file (run after its root base in
    the same run, so paired against the base's DDIM-25 fp32 on the same requests and seeds)."""
    report = json.load(open(results_path))
    entry = next((p for p in report["packages"] if p["package"] == name), None)
    if entry is None or entry.get("denoiserSha256") != sha:
        raise SystemExit(f"{results_path} has no figures for this {name} denoiser ({sha[:12]})")
    rows = {}
    for r in entry["rows"]:
        vs = r.get("vsFp32Ddim25") or {}
        rows[r["config"]] = {
            "attributeAccuracy": {k: round(v, 4) for k, v in r["accuracy"].items()},
            "validShare": round(r["validShare"], 4),
            "validPerCpuSecondVsBaseDdim25": round(vs["ratio"], 3) if vs else None,
            "differencePointsVsBaseDdim25": {k: round(100 * v["mean"], 2) for k, v in vs.get("paired", {}).items()},
        }
    return {"report": os.path.relpath(os.path.abspath(results_path), REPO), "command": report["command"],
            "judge": entry["critic"], "samples": entry["requests"], "measuredAt": report["started"], "configs": rows}


def int8_evaluation(results_path, base, sha):
    """The manifest's `evaluation` of an int8 build: its pair in a bench/int8 results file (fp32 and int8 from the
    same noise, judged by the domain critic, and the speed of both)."""
    report = json.load(open(results_path))
    pair = next((r for r in report["results"] if r["base"]["name"] == base), None)
    if pair is None or pair["int8"]["denoiserSha256"] != sha:
        raise SystemExit(f"{results_path} has no figures for this int8 denoiser of {base}")
    q, sp = pair["quality"], pair["speed"]["summary"]
    return {
        "report": os.path.relpath(os.path.abspath(results_path), REPO),
        "command": report["command"],
        "samples": q["samples"], "sampler": q["sampler"], "steps": q["steps"], "guidance": q["guidance"], "judge": q["judge"],
        "conditions": (f"every categorical cell ({q['cells']}) x {q['perCell']}, geometry drawn inside the label rule's plausible ranges "
                       f"(training/quantize/cells.ts), seed {q['seed']}; fp32 and int8 from the same noise"),
        "attributeAccuracy": {f: v["int8"] for f, v in q["fields"].items()},
        "fp32AttributeAccuracy": {f: v["fp32"] for f, v in q["fields"].items()},
        "differencePoints": {f: v["differencePoints"] for f, v in q["fields"].items()},
        "meetsBar": q["meetsBar"], "bar": q["bar"],
        "finalImageDifference": q["finalImageDifference"],
        "denoiserCallsVsFp32": pair["denoiserCalls"]["calls"],
        "imagesPerSecond": {"int8": sp["int8ImagesPerSecondMedian"], "fp32": sp["fp32ImagesPerSecondMedian"], "ratio": sp["ratioMedianOfRounds"],
                            "batch": pair["speed"]["batch"], "intraOpThreads": pair["speed"]["intraOpThreads"], "measuredAt": report["startedAt"]},
    }


MANIFEST_HEAD = ["schema", "name", "version", "domain", "license", "description", "files", "derivedFrom"]


def write_manifest(out_dir, derived):
    """out_dir/model.json: the identity and `derivedFrom` first, then the base's keys in their order."""
    ordered = {k: derived[k] for k in MANIFEST_HEAD if k in derived}
    ordered.update({k: v for k, v in derived.items() if k not in ordered})
    with open(os.path.join(out_dir, "model.json"), "w") as f:
        json.dump(ordered, f, indent=2, ensure_ascii=False)
        f.write("\n")


def sha256(path):
    """A file's sha256 hex digest, as manifests list it (torch-free: training/quantize uses it too)."""
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def carry_condition_files(base_manifest, base_dir, out_dir, files):
    """files with the files the base's condition names (each feedback's meter) copied beside the derived denoiser:
    a derived package samples with its base's condition, feedback included."""
    files = dict(files)
    for field in base_manifest["condition"]["fields"]:
        spec = field.get("feedback")
        if not spec:
            continue
        target = os.path.join(out_dir, spec["meter"])
        if os.path.abspath(target) != os.path.abspath(os.path.join(base_dir, spec["meter"])):
            shutil.copyfile(os.path.join(base_dir, spec["meter"]), target)
        if sha256(target) != base_manifest["files"][spec["meter"]]:
            raise SystemExit(f"{target} does not hash to the base's {spec['meter']}")
        files[spec["meter"]] = base_manifest["files"][spec["meter"]]
    return files


def sync(name, throughput=None, fast=None, fast_evidence=None, int8_results=None):
    out_dir = os.path.join(REPO, "models", name)
    derived = json.load(open(os.path.join(out_dir, "model.json")))
    base_dir = os.path.join(REPO, "models", derived["derivedFrom"]["name"])
    base = json.load(open(os.path.join(base_dir, "model.json")))
    if base["version"] != derived["derivedFrom"]["version"]:
        raise SystemExit(f"{name} was derived from {base['name']} {derived['derivedFrom']['version']}, which is now {base['version']}: derive it again")
    for stale in set(derived["files"]) - {derived["denoiser"]["file"]}:
        os.remove(os.path.join(out_dir, stale))
    changed = derived["condition"] != base["condition"]
    derived["condition"] = base["condition"]
    if changed and not (throughput or int8_results) and derived.get("evaluation"):
        # say so rather than leave figures measured with another condition looking current
        derived["evaluation"]["conditionChangedSince"] = (f"{base['name']} {base['version']}'s condition changed after these figures were "
                                                          "measured (calibration or feedback; derived.py sync): bench/throughput measures it again")
    derived["files"] = carry_condition_files(base, base_dir, out_dir, {derived["denoiser"]["file"]: derived["files"][derived["denoiser"]["file"]]})
    if throughput:
        derived["evaluation"] = throughput_evaluation(throughput, name, derived["files"][derived["denoiser"]["file"]])
        derived.pop("fast", None)
    if int8_results:
        derived["evaluation"] = int8_evaluation(int8_results, derived["derivedFrom"]["name"], derived["files"][derived["denoiser"]["file"]])
    if fast:
        if not (throughput and fast_evidence):
            raise SystemExit("--fast needs --throughput and --fast-evidence (where the setting was measured)")
        sampler, steps = fast.split(":")
        derived["fast"] = {"sampler": sampler, "steps": int(steps), "guidance": derived["defaults"]["guidance"], "evidence": fast_evidence}
    write_manifest(out_dir, derived)
    print(json.dumps({"package": name, "files": derived["files"]}))


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["sync"])
    parser.add_argument("package")
    parser.add_argument("--throughput", default=None)
    parser.add_argument("--fast", default=None)
    parser.add_argument("--fast-evidence", default=None)
    parser.add_argument("--int8-results", default=None, help="a bench/int8 results file: the int8 build's evaluation")
    args = parser.parse_args()
    sync(args.package, args.throughput, args.fast, args.fast_evidence, args.int8_results)
