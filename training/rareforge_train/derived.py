"""Derived packages' manifests (int8 builds, distilled students): their `evaluation` from a bench/throughput results
file, and writing model.json. Torch-free: training/quantize uses it too."""
import json
import os

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


MANIFEST_HEAD = ["schema", "name", "version", "domain", "license", "description", "files", "derivedFrom"]


def write_manifest(out_dir, derived):
    """out_dir/model.json: the identity and `derivedFrom` first, then the base's keys in their order."""
    ordered = {k: derived[k] for k in MANIFEST_HEAD if k in derived}
    ordered.update({k: v for k, v in derived.items() if k not in ordered})
    with open(os.path.join(out_dir, "model.json"), "w") as f:
        json.dump(ordered, f, indent=2, ensure_ascii=False)
        f.write("\n")
