"""Guidance distillation (Meng et al. 2023, "On Distillation of Guided Diffusion Models", stage one):
a student denoiser whose conditional output alone is the teacher's classifier-free-guided output at the
product's guidance scale, so a sample costs one denoiser row per step instead of two.

    python3 training/distill/guidance.py train <base> [--minutes N] [--threads 1] [--batch 24] [--warm-start]
    python3 training/distill/guidance.py resume-point <base>
    python3 training/distill/guidance.py package <base> [--fast SAMPLER:STEPS --fast-evidence TEXT] [--results bench/throughput/results-….json]
    python3 training/distill/guidance.py check <base> [--teacher ONNX --student ONNX] [--trajectories 48] [--out JSON]

<base> is a shipped diffusion package (road-hazards, brain-mri). The teacher is its ONNX denoiser recovered into
torch (rareforge_train/from_onnx.py, checked against the base's golden fixture); the student starts as a copy of
it. Training pairs come from the teacher itself, so no training images are needed:
  - trajectory pairs: chains of guided DDIM sampling run by the teacher (each chain with its own step count, drawn
    from TRAJECTORY_STEPS, so the student sees every timestep grid the product's samplers use); each teacher step
    yields (x_t, t, c) and its guided output, the target, at no extra cost. This is the distribution the student
    meets when it samples.
  - endpoint pairs: a finished chain's sample noised again at a uniform timestep (x_t = sqrt(a) x0 + sqrt(1-a) e),
    with the teacher's guided output there as target, so timesteps off the DDIM grids are covered too.
Conditions: road draws half from the scenario library (training/rareforge_train/library.py, every automotive
scenario, with a random hazard x weather x time cell put over what it drew, as bench/throughput does) and half from
the training renderer's draws; brain from the renderer's draws. Loss: squared error on the v output, weighted
toward the requested object like the base model's training (diffusion.OBJECT_WEIGHT).

Checkpoints (training/checkpoints/<base>-distilled/last.pt, written atomically every 50 steps) hold the student,
its EMA, the optimizer and the clock: a rerun resumes, and --minutes is the budget of the whole run, resumed time
included. `resume-point` writes the committed training/resume/<base>-distilled/last.pt (EMA weights, step, clock;
no optimizer state), from which a fresh checkout resumes when it has no checkpoint of its own. A checkpoint distilled
from another teacher (the base was retrained) is refused, unless `--warm-start`: then a new run (step 0, its own
clock) starts from that student's EMA weights instead of from a copy of the teacher, provided it was distilled at
the base's current default guidance; the package records which student it started from. `package` exports the EMA student as models/<base>-distilled/ (a derived package: `derivedFrom` with
method "guidance-distillation" and `denoiser.distilledGuidance`, docs/model-package.md) with golden fixtures.
`check` measures what the packages test measures on one golden trajectory (the student's 10-step DDIM final against
the teacher's guided final, as a ratio to the teacher's unguided final) on many: random served conditions and noise
(fixed seeds), the shipped pair unless --teacher/--student name other ONNX files (e.g. from git history).
"""
import argparse
import copy
import json
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TRAINING = os.path.dirname(HERE)
sys.path.insert(0, TRAINING)

from rareforge_train import derived as derived_manifest, diffusion, from_onnx, library, package  # noqa: E402
from rareforge_train.domains import PACKAGES  # noqa: E402
from rareforge_train.served import served_vector  # noqa: E402

TRAJECTORY_STEPS = (8, 10, 12, 15, 20, 25)   # DDIM grids the chains use ("leading" spacing, as the runtime)
ENDPOINT_SHARE = 0.25                          # share of each batch drawn from noised chain endpoints
ENDPOINT_POOL = 512                            # finished samples kept for endpoint pairs
LR, WARMUP, EMA_DECAY, CHECKPOINT_EVERY = 1e-4, 50, 0.995, 50
SEED = 2207
DISTILLED_VERSION_SUFFIX = "distilled"   # <base version>-distilled.<n>: n counts the students packaged from that base


def teacher_of(base):
    """The base package's denoiser as a torch module (recovered from its ONNX file and checked against its golden
    fixture) and the package's manifest."""
    kind, domain = PACKAGES[base]
    if kind != "diffusion":
        raise SystemExit(f"{base} is not a diffusion package")
    package_dir = os.path.join(package.MODELS_DIR, base)
    manifest = json.load(open(os.path.join(package_dir, "model.json")))
    onnx_path = os.path.join(package_dir, manifest["denoiser"]["file"])
    if package.sha256(onnx_path) != manifest["files"][manifest["denoiser"]["file"]]:
        raise SystemExit(f"{onnx_path} does not match the sha256 in its manifest")
    model = recovered(onnx_path, domain)
    error = from_onnx.fixture_error(base, "diffusion", model, package.FIXTURES_DIR)
    if not error <= 1e-4:
        raise SystemExit(f"recovered {base} differs from its golden fixture by {error:.2e}")
    return model, manifest, domain


def recovered(path, domain):
    """An ONNX denoiser recovered into torch (eval mode, no gradients)."""
    example, input_names, output_names, axes = package.export_signature("diffusion", domain)
    return from_onnx.recover(diffusion.build_denoiser(domain), path, example, input_names, output_names, axes,
                             package.OPSET).eval().requires_grad_(False)


class ConditionSource:
    """Draws condition vectors: road half from the scenario library (random cell over the drawn scalars), half from
    the renderer; brain from the renderer. Each is encoded as the product serves it (rareforge_train/served.py: the
    base's calibration maps applied), so the student learns the conditions it will be fed."""

    def __init__(self, domain, rng, fields=()):
        self.domain, self.rng, self.index, self.fields = domain, rng, 0, list(fields)
        self.scenarios = library.automotive_scenarios() if domain.name == "road" else []

    def draw(self):
        domain, rng = self.domain, self.rng
        if self.scenarios and rng.random() < 0.5:
            spec = self.scenarios[int(rng.integers(len(self.scenarios)))]
            self.index += 1
            drawn = library.to_condition(library.draw_parameters(spec, SEED, self.index))
            for name in ("hazard", "weather", "timeOfDay"):
                values = domain.layout.field(name)["values"]
                drawn[name] = values[int(rng.integers(len(values)))]
            if drawn["hazard"] != "none" and (drawn["hazardW"] <= 0 or drawn["hazardH"] <= 0):
                return self.draw()
            return served_vector(domain.layout, self.fields, drawn)
        return served_vector(domain.layout, self.fields, domain.draw(rng))


class Chains:
    """Guided DDIM chains run by the teacher, advanced one step per training iteration."""

    def __init__(self, teacher, domain, count, conditions, guidance, gen):
        self.teacher, self.domain, self.count, self.conditions, self.guidance, self.gen = teacher, domain, count, conditions, guidance, gen
        # one DDIM scheduler per step count: a chain steps with the one of its own grid
        self.schedulers = {steps: diffusion.DDIMScheduler() for steps in TRAJECTORY_STEPS}
        for steps, scheduler in self.schedulers.items():
            scheduler.set_timesteps(steps)
        self.unconditional = torch.zeros(1, domain.layout.width)
        self.x = torch.zeros(count, domain.channels, 64, 64)
        self.cond = torch.zeros(count, domain.layout.width)
        self.grid = [None] * count
        self.position = [0] * count
        self.finished = []
        for i in range(count):
            self._restart(i)
        # spread the chains over their trajectories so every batch mixes noise levels
        for i in range(count):
            self.position[i] = int(torch.randint(0, len(self.grid[i]), (1,), generator=gen))

    def _restart(self, i):
        steps = TRAJECTORY_STEPS[int(torch.randint(0, len(TRAJECTORY_STEPS), (1,), generator=self.gen))]
        self.grid[i] = [int(t) for t in self.schedulers[steps].timesteps]
        self.position[i] = 0
        self.x[i] = torch.randn((self.domain.channels, 64, 64), generator=self.gen)
        self.cond[i] = torch.from_numpy(self.conditions.draw())

    @torch.no_grad()
    def step(self):
        """Advances every chain one step; returns (x_t, t, c, guided teacher output) for this step."""
        t = torch.tensor([float(self.grid[i][self.position[i]]) for i in range(self.count)])
        target = diffusion.guided_output(self.teacher, self.x, t, self.cond, self.unconditional, self.guidance)
        pairs = (self.x.clone(), t, self.cond.clone(), target)
        for i in range(self.count):
            scheduler = self.schedulers[len(self.grid[i])]
            self.x[i] = scheduler.step(target[i:i + 1], self.grid[i][self.position[i]], self.x[i:i + 1])[0][0]
            self.position[i] += 1
            if self.position[i] == len(self.grid[i]):
                self.finished.append((self.x[i].clone(), self.cond[i].clone()))
                self.finished = self.finished[-ENDPOINT_POOL:]
                self._restart(i)
        return pairs


def checkpoint_dir(base):
    return os.path.join(TRAINING, "checkpoints", f"{base}-distilled")


def resume_path(base):
    """The committed resume point (training/resume/<base>-distilled/last.pt): the EMA weights, step and clock of the
    run the shipped package came from, so a later session continues it (with fresh Adam moments)."""
    return os.path.join(TRAINING, "resume", f"{base}-distilled", "last.pt")


def save_resume_point(base, log):
    state = torch.load(os.path.join(checkpoint_dir(base), "last.pt"))
    ema = state["ema"]
    slim = {"student": ema, "ema": ema, "opt": None,   # one set of tensors: torch.save stores shared storages once
            **{k: state[k] for k in ("step", "elapsed", "base", "baseSha256", "guidance")},
            **{k: state.get(k) for k in ("baseVersion", "startedFrom")}}
    os.makedirs(os.path.dirname(resume_path(base)), exist_ok=True)
    diffusion.save_atomic(slim, resume_path(base))
    log(f"wrote {os.path.relpath(resume_path(base), TRAINING)} (step {state['step']}, {os.path.getsize(resume_path(base)) / 1e6:.1f} MB)")


def train(base, minutes, batch, log, warm_start=False):
    teacher, manifest, domain = teacher_of(base)
    guidance = float(manifest["defaults"]["guidance"])
    student = copy.deepcopy(teacher).requires_grad_(True).train()
    ema = copy.deepcopy(teacher)
    opt = torch.optim.AdamW(student.parameters(), lr=LR, weight_decay=0.0)
    step, elapsed, losses, started_from = 0, 0.0, [], None
    os.makedirs(checkpoint_dir(base), exist_ok=True)
    last = os.path.join(checkpoint_dir(base), "last.pt")
    committed = resume_path(base)
    source = last if os.path.exists(last) else committed if os.path.exists(committed) else None
    if source:
        state = torch.load(source)
        if float(state["guidance"]) != guidance:
            raise SystemExit(f"{source} was distilled at guidance {state['guidance']:g}, the base's default is now {guidance:g}: "
                             "remove it to start over")
        other_teacher = state["baseSha256"] != manifest["files"]
        if other_teacher and not warm_start:
            raise SystemExit(f"{source} was distilled from another {base} denoiser than the one shipped: remove it to start over, "
                             "or --warm-start from it")
        if other_teacher:
            # a new run from the other teacher's student: its weights, none of its optimizer state, step count or clock
            student.load_state_dict(state["ema"]); ema.load_state_dict(state["ema"])
            started_from = {"baseVersion": state.get("baseVersion"), "baseSha256": state["baseSha256"], "steps": int(state["step"])}
            log(f"warm start from {os.path.relpath(source, TRAINING)}: a student of another {base} denoiser "
                f"({state['step']} steps), distilled at the same guidance")
        else:
            student.load_state_dict(state["student"]); ema.load_state_dict(state["ema"])
            if state.get("opt") is not None:   # None in the committed resume point (its Adam moments are not kept)
                opt.load_state_dict(state["opt"])
            step, elapsed, started_from = state["step"], state["elapsed"], state.get("startedFrom")
            log(f"resumed from {os.path.relpath(source, TRAINING)} at step {step} ({elapsed:.0f}s of {minutes * 60:.0f}s)")
    gen = torch.Generator().manual_seed(SEED + step)
    rng = np.random.default_rng(SEED + step)
    endpoints = int(round(batch * ENDPOINT_SHARE))
    chains = Chains(teacher, domain, batch - endpoints, ConditionSource(domain, rng, manifest["condition"]["fields"]), guidance, gen)
    acp = diffusion.alphas_cumprod()
    started = time.time() - elapsed

    def checkpoint():
        diffusion.save_atomic({"student": student.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "step": step,
                     "elapsed": time.time() - started, "base": base, "baseSha256": manifest["files"],
                     "baseVersion": manifest["version"], "guidance": guidance, "startedFrom": started_from}, last)

    log(f"teacher {base} {manifest['version']}, guidance {guidance}, batch {batch} ({endpoints} endpoint pairs)")
    while time.time() - started < minutes * 60:
        x, t, cond, target = chains.step()
        if endpoints and len(chains.finished) >= endpoints:
            pick = torch.randint(0, len(chains.finished), (endpoints,), generator=gen)
            x0 = torch.stack([chains.finished[int(i)][0] for i in pick])
            c0 = torch.stack([chains.finished[int(i)][1] for i in pick])
            t0 = torch.randint(0, acp.shape[0], (endpoints,), generator=gen)
            a = acp[t0].view(-1, 1, 1, 1)
            x0t = a.sqrt() * x0 + (1 - a).sqrt() * torch.randn(x0.shape, generator=gen)
            target0 = diffusion.guided_output(teacher, x0t, t0.float(), c0, chains.unconditional, guidance)
            x, t, cond, target = (torch.cat([x, x0t]), torch.cat([t, t0.float()]), torch.cat([cond, c0]),
                                  torch.cat([target, target0]))
        frac = min(1.0, (time.time() - started) / (minutes * 60))
        for g in opt.param_groups:
            g["lr"] = LR * min(1.0, (step + 1) / WARMUP) * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * frac)))
        with torch.no_grad():
            weight = 1.0 + diffusion.OBJECT_WEIGHT * student.spatial_prior(cond)
            weight = weight / weight.mean()
        loss = (weight * (student(x, t, cond) - target) ** 2).mean()
        diffusion.update(student, ema, opt, loss, step, EMA_DECAY)
        losses.append(loss.item())
        step += 1
        if step % CHECKPOINT_EVERY == 0:
            log(f"step {step} loss {np.mean(losses[-CHECKPOINT_EVERY:]):.5f} run {time.time() - started:.0f}s")
            checkpoint()
    checkpoint()
    log(f"done: {step} steps in {time.time() - started:.0f}s, final loss {np.mean(losses[-CHECKPOINT_EVERY:]) if losses else float('nan'):.5f}")


def build(base, log, fast=None, fast_evidence=None, results=None):
    """models/<base>-distilled/ (the EMA student, a derived package of the base) and test/fixtures/<base>-distilled/."""
    state = torch.load(os.path.join(checkpoint_dir(base), "last.pt"))
    teacher, manifest, domain = teacher_of(base)
    if state["baseSha256"] != manifest["files"]:
        raise SystemExit(f"the checkpoint was distilled from another {base} denoiser than the one shipped: retrain")
    student = copy.deepcopy(teacher)
    student.load_state_dict(state["ema"])
    student.eval()
    guidance = float(state["guidance"])
    name = f"{base}-distilled"
    out_dir, fixture_dir = os.path.join(package.MODELS_DIR, name), os.path.join(package.FIXTURES_DIR, name)
    previous_path = os.path.join(out_dir, "model.json")
    previous = json.load(open(previous_path)) if os.path.exists(previous_path) else None
    for d in (out_dir, fixture_dir):
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
    onnx_path = os.path.join(out_dir, "denoiser.onnx")
    example, input_names, output_names, axes = package.export_signature("diffusion", domain)
    package._export(student, example, onnx_path, input_names, output_names, axes)
    denoiser_file = manifest["denoiser"]["file"]
    student_sha256 = package.sha256(onnx_path)
    # another student of the same base is another version: a record made with the previous one is not reproducible
    # from this one (and says so by its version, before its hashes are compared)
    prefix = f"{manifest['version']}-{DISTILLED_VERSION_SUFFIX}."
    number = int(previous["version"][len(prefix):]) if previous and previous["version"].startswith(prefix) and previous["version"][len(prefix):].isdigit() else 0
    if not previous or previous["files"].get("denoiser.onnx") != student_sha256:
        number += 1
    minutes = state["elapsed"] / 60
    started_from = state.get("startedFrom")
    init = ("student initialised from the base" if not started_from else
            f"student initialised from the student of {base} {started_from.get('baseVersion') or 'denoiser ' + started_from['baseSha256']['denoiser.onnx'][:12]} "
            f"({started_from['steps']} steps distilled from that denoiser at the same guidance)")
    derived = {k: v for k, v in manifest.items() if k not in ("fast", "evaluation")}
    derived.update({
        "name": name,
        "version": f"{prefix}{number}",
        "description": (f"{manifest['name']} {manifest['version']} with classifier-free guidance {guidance:g} distilled into its denoiser "
                        f"(one pass per step instead of two). " + manifest["description"]),
        "files": {"denoiser.onnx": student_sha256},
        "derivedFrom": {
            "name": manifest["name"], "version": manifest["version"], "denoiserSha256": manifest["files"][denoiser_file],
            "method": "guidance-distillation",
            "calibration": (f"{init}, trained {state['step']} steps ({minutes:.0f} min, batch 24) to match the base's "
                            f"guided output at guidance {guidance:g}: pairs from the base's own guided DDIM chains at "
                            f"{'/'.join(str(s) for s in TRAJECTORY_STEPS)} steps, plus finished chains re-noised at uniform timesteps "
                            f"({int(ENDPOINT_SHARE * 100)} %); conditions from "
                            + ("the scenario library and the training renderer" if domain.name == "road" else "the training renderer")
                            + ", encoded as the product serves them (calibration maps applied)"),
            "command": (f"/usr/bin/python3 training/distill/guidance.py train {base}{' --warm-start' if started_from else ''} && "
                        f"/usr/bin/python3 training/distill/guidance.py package {base}"),
        },
        "denoiser": dict(manifest["denoiser"], file="denoiser.onnx", distilledGuidance=guidance),
        "defaults": dict(manifest["defaults"], guidance=guidance),
        "provenance": dict(manifest.get("provenance", {}), distillation={
            "script": "training/distill/guidance.py", "steps": int(state["step"]), "wallTimeSeconds": round(float(state["elapsed"]), 1),
            "hardware": package.hardware(), "torchVersion": torch.__version__,
            **({"startedFrom": started_from} if started_from else {})}),
        "evaluation": {},
    })
    if fast:
        sampler, steps = fast.split(":")
        if not fast_evidence:
            raise SystemExit("--fast needs --fast-evidence (where the setting was measured)")
        derived["fast"] = {"sampler": sampler, "steps": int(steps), "guidance": guidance, "evidence": fast_evidence}
    if results:
        derived["evaluation"] = derived_manifest.throughput_evaluation(results, name, derived["files"]["denoiser.onnx"])
    derived["files"] = derived_manifest.carry_condition_files(manifest, os.path.join(package.MODELS_DIR, base), out_dir, derived["files"])
    derived_manifest.write_manifest(out_dir, derived)
    package.write_diffusion_fixtures(name, domain, student, fixture_dir, guidance, distilled=True)
    log(f"wrote {out_dir} ({derived['version']}, denoiser {derived['files']['denoiser.onnx'][:12]}) and {fixture_dir}")


CHECK_SEED = 4242


@torch.no_grad()
def check(base, log, teacher_path=None, student_path=None, trajectories=48, out=None):
    """Student vs the teacher's guided output on `trajectories` random DDIM trajectories (served conditions, fixed
    noise, as many steps as the golden one) and on the golden one: mean |student final - guided final| against mean |unguided final - guided
    final| (the packages test's ofUndistilled ratio, which it reads on the golden trajectory alone)."""
    domain = PACKAGES[base][1]
    manifest = json.load(open(os.path.join(package.MODELS_DIR, base, "model.json")))
    guidance = float(manifest["defaults"]["guidance"])
    teacher_path = teacher_path or os.path.join(package.MODELS_DIR, base, manifest["denoiser"]["file"])
    student_path = student_path or os.path.join(package.MODELS_DIR, f"{base}-distilled", "denoiser.onnx")
    teacher, student = recovered(teacher_path, domain), recovered(student_path, domain)
    rng = np.random.default_rng(CHECK_SEED)
    source = ConditionSource(domain, rng, manifest["condition"]["fields"])
    cond = torch.from_numpy(np.stack([source.draw() for _ in range(trajectories)]))
    noise = torch.randn((trajectories, domain.channels, 64, 64), generator=torch.Generator().manual_seed(CHECK_SEED))
    golden, golden_noise, golden_cond = from_onnx.golden_trajectory(base, package.FIXTURES_DIR)
    steps = golden["steps"]
    sets = {"golden": (golden_noise, golden_cond), "random": (noise, cond)}
    result = {"base": base, "guidance": guidance, "steps": steps, "seed": CHECK_SEED,
              "teacherSha256": package.sha256(teacher_path), "studentSha256": package.sha256(student_path)}
    for name, (x, c) in sets.items():
        guided = diffusion.ddim_sample(teacher, x, c, steps=steps, guidance=guidance)
        unguided = diffusion.ddim_sample(teacher, x, c, steps=steps, guidance=1.0)
        own = diffusion.ddim_sample(student, x, c, steps=steps, guidance=1.0)
        s, u = (own - guided).abs().mean((1, 2, 3)).numpy(), (unguided - guided).abs().mean((1, 2, 3)).numpy()
        result[name] = {"n": len(s), "student": round(float(s.mean()), 5), "unguided": round(float(u.mean()), 5),
                        "ratio": round(float(s.mean() / u.mean()), 3), "medianRatio": round(float(np.median(s / u)), 3),
                        "shareUnderHalf": round(float(np.mean(s / u < 0.5)), 3),
                        "ratios": [round(float(v), 3) for v in s / u]}
        log(f"{name}: student {s.mean():.5f} vs unguided {u.mean():.5f} from the guided final (ratio {s.mean() / u.mean():.3f}, "
            f"median {np.median(s / u):.3f}, {np.mean(s / u < 0.5) * 100:.0f} % of trajectories under 0.5)")
    if out:
        json.dump(result, open(out, "w"), indent=1)
        log(f"wrote {out}")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["train", "package", "resume-point", "check"])
    parser.add_argument("base", choices=["road-hazards", "brain-mri"])
    parser.add_argument("--minutes", type=float, default=60.0, help="wall-clock budget of the whole run, resumed time included")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=24)
    parser.add_argument("--warm-start", action="store_true",
                        help="train: start a new run from a checkpoint distilled from another denoiser of the base (at the same guidance)")
    parser.add_argument("--fast", default=None, help="package: SAMPLER:STEPS measured within 2 points of the base's DDIM-25 (bench/throughput)")
    parser.add_argument("--fast-evidence", default=None, help="package: where --fast was measured")
    parser.add_argument("--results", default=None, help="package: bench/throughput results with this package's figures (its evaluation)")
    parser.add_argument("--teacher", default=None, help="check: the teacher's ONNX file (default: the shipped base's)")
    parser.add_argument("--student", default=None, help="check: the student's ONNX file (default: the shipped <base>-distilled's)")
    parser.add_argument("--trajectories", type=int, default=48, help="check: random trajectories")
    parser.add_argument("--out", default=None, help="check: write the figures here (JSON)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(checkpoint_dir(args.base), exist_ok=True)
    log_path = os.path.join(checkpoint_dir(args.base), "train.log")

    def log(msg):
        line = f"{time.strftime('%H:%M:%S')} [{args.base}-distilled] {msg}"
        print(line, flush=True)
        with open(log_path, "a") as f:
            f.write(line + "\n")

    if args.action == "train":
        train(args.base, args.minutes, args.batch, log, warm_start=args.warm_start)
    elif args.action == "resume-point":
        save_resume_point(args.base, log)
    elif args.action == "check":
        check(args.base, log, args.teacher, args.student, args.trajectories, args.out)
    else:
        build(args.base, log, args.fast, args.fast_evidence, args.results)


if __name__ == "__main__":
    main()
