"""Rebuilds one shipped model package: python3 training/train.py <package> [--minutes N] [--package-only]

Packages: road-hazards, brain-mri (diffusion); road-detector, brain-detector; road-critic, brain-critic.
Trains on procedural generator data (checkpoints in training/checkpoints/<package>/, resumed
if present; --minutes is the budget of the run, its resumed time included: a run that starts from
weights recovered from a shipped package with --init-from-onnx starts its clock at 0, while the
step count and wall time in the provenance keep adding up), then exports ONNX, writes
models/<package>/ and test/fixtures/<package>/. --init-from-onnx resumes from the shipped package.
Checkpoints are written atomically every 100 steps, so --package-only can export the latest one
while a run goes on; a critic also keeps best.pt, its best held-out checkpoint, which is exported.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from rareforge_train.domains import PACKAGES  # noqa: E402

TRAINING_DIR = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MINUTES = {"diffusion": 40, "detector": 8, "critic": 8}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("package", choices=sorted(PACKAGES))
    parser.add_argument("--minutes", type=float, help="wall-clock training budget (default per kind)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the build machine is shared)")
    parser.add_argument("--package-only", action="store_true", help="skip training, export the last checkpoint")
    parser.add_argument("--init-from-onnx", action="store_true",
                        help="first recover the checkpoint from the shipped models/<package> ONNX file (verified "
                             "against its golden fixture), so training resumes from the shipped weights")
    parser.add_argument("--no-package", action="store_true", help="train (or recover) only; leave models/ as it is")
    parser.add_argument("--lr", type=float,
                        help="the run's peak learning rate (after its 100-step warm-up; cosine decay over the budget); "
                             "diffusion: default 4e-4, e.g. 2e-4 to fine-tune a shipped model; critic or detector: "
                             "default 2e-3, e.g. 5e-4 for a --new-run from a trained point")
    parser.add_argument("--new-run", action="store_true",
                        help="critic or detector: continue from the checkpoint's weights and optimizer, but as a new run "
                             "(--minutes counts from now, the learning-rate schedule starts again), e.g. from a "
                             "training/resume/ point that finished its own run")
    parser.add_argument("--sampling", help="the named table the training images are drawn with: diffusion, one of "
                                           "rareforge_train.diffusion.SAMPLING[domain] (default: the one the shipped model was "
                                           "last trained with); critic, one of perception.CRITIC_SAMPLING[domain] (default "
                                           "spatial-1.2)")
    parser.add_argument("--dataset-size", type=int, default=20000,
                        help="diffusion: how many generator images the run draws from (cached in training/data)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    kind, domain = PACKAGES[args.package]
    if args.sampling and kind == "detector":
        parser.error("--sampling: a detector draws its training images uniformly (no sampling tables)")
    if args.sampling and kind == "critic":
        from rareforge_train.perception import CRITIC_SAMPLING
        if args.sampling not in CRITIC_SAMPLING[domain.name]:
            parser.error(f"--sampling {args.sampling}: a {domain.name} critic's table is one of {', '.join(CRITIC_SAMPLING[domain.name])}")
    if args.sampling and kind == "diffusion":
        from rareforge_train.diffusion import SAMPLING
        if args.sampling not in SAMPLING[domain.name]:
            parser.error(f"--sampling {args.sampling}: a {domain.name} model's table is one of {', '.join(SAMPLING[domain.name])}")
    checkpoint_dir = os.path.join(TRAINING_DIR, "checkpoints", args.package)
    minutes = args.minutes if args.minutes is not None else DEFAULT_MINUTES[kind]
    log_path = os.path.join(checkpoint_dir, "train.log")
    os.makedirs(checkpoint_dir, exist_ok=True)

    def log(msg):
        line = f"{time.strftime('%H:%M:%S')} [{args.package}] {msg}"
        print(line, flush=True)
        with open(log_path, "a") as f:
            f.write(line + "\n")

    if args.init_from_onnx:
        from rareforge_train import from_onnx
        from_onnx.checkpoint_from_package(args.package, checkpoint_dir, log=log)
    if not args.package_only:
        lr = {"lr": args.lr} if args.lr is not None else {}    # else each trainer's own default
        if kind == "diffusion":
            from rareforge_train import diffusion
            diffusion.train(domain, checkpoint_dir, minutes, dataset_size=args.dataset_size, sampling=args.sampling,
                            log=log, **lr)
        else:
            from rareforge_train import perception
            sampling = {"sampling_table": args.sampling} if args.sampling else {}
            perception.train(kind, domain, checkpoint_dir, minutes, log=log, new_run=args.new_run, **lr, **sampling)
    if args.no_package:
        return
    from rareforge_train import package  # imported late: packaging never needs a training run
    package.build(args.package, checkpoint_dir, threads=args.threads, log=log)


if __name__ == "__main__":
    main()
