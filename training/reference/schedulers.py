"""PyTorch reference schedulers for RareForge.

Written from the papers and the diffusers scheduler semantics (not copied):
  DDPM  — Ho et al. 2020, "Denoising Diffusion Probabilistic Models", eq. (6)-(7).
  DDIM  — Song et al. 2021, "Denoising Diffusion Implicit Models", eq. (12), (16).
  DPM-Solver++(2M) — Lu et al. 2022, "DPM-Solver++", Algorithm 2 (multistep, second order).
  Euler / Euler ancestral — Karras et al. 2022, "Elucidating the Design Space...", Algorithm 1 with
  s_churn = 0; the ancestral split of the step is k-diffusion's get_ancestral_step.

Every scheduler has the same three verbs as the TypeScript runtime (src/diffusion/schedulers):
  set_timesteps(n), step(model_output, t, sample, noise=None) -> (prev_sample, pred_original),
  add_noise(x0, noise, t); plus scale_model_input(sample, t) and init_noise_sigma.
Arithmetic on scalars is float64; tensors stay float32, like the runtime.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

SCHEDULE_KINDS = ("linear", "scaled_linear", "cosine")
PREDICTIONS = ("epsilon", "v")
SPACINGS = ("leading", "linspace", "trailing")


@dataclass
class NoiseSchedule:
    kind: str = "linear"
    train_steps: int = 1000
    beta_start: float = 0.0001
    beta_end: float = 0.02


def make_betas(s: NoiseSchedule) -> np.ndarray:
    if s.kind == "linear":
        return np.linspace(s.beta_start, s.beta_end, s.train_steps, dtype=np.float64)
    if s.kind == "scaled_linear":
        return np.linspace(s.beta_start ** 0.5, s.beta_end ** 0.5, s.train_steps, dtype=np.float64) ** 2
    if s.kind == "cosine":
        # Nichol & Dhariwal 2021, eq. (17): alpha_bar(t) = cos^2(((t/T + s)/(1 + s)) * pi/2), s = 0.008, beta <= 0.999
        def alpha_bar(u: float) -> float:
            return math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2
        T = s.train_steps
        return np.array([min(1 - alpha_bar((i + 1) / T) / alpha_bar(i / T), 0.999) for i in range(T)], dtype=np.float64)
    raise ValueError(f"unknown schedule kind {s.kind!r}; allowed: {', '.join(SCHEDULE_KINDS)}")


def spaced_timesteps(spacing: str, n: int, train_steps: int, steps_offset: int = 0) -> np.ndarray:
    """Timesteps, descending, as float64 (Euler may use fractional ones). diffusers adds steps_offset to "leading" only."""
    if spacing == "leading":
        ratio = train_steps // n
        return (np.arange(0, n) * ratio)[::-1].astype(np.float64) + steps_offset
    if spacing == "trailing":
        ratio = train_steps / n
        return (np.round(np.arange(train_steps, 0, -ratio)) - 1).astype(np.float64)
    if spacing == "linspace":
        return np.linspace(0, train_steps - 1, n)[::-1].copy()
    raise ValueError(f"unknown timestep spacing {spacing!r}; allowed: {', '.join(SPACINGS)}")


class _Base:
    def __init__(self, schedule: NoiseSchedule, prediction: str = "epsilon", spacing: str = "leading", steps_offset: int = 0):
        if prediction not in PREDICTIONS:
            raise ValueError(f"unknown prediction {prediction!r}; allowed: {', '.join(PREDICTIONS)}")
        self.schedule = schedule
        self.prediction = prediction
        self.spacing = spacing
        self.steps_offset = steps_offset
        self.betas = make_betas(schedule)
        self.alphas_cumprod = np.cumprod(1.0 - self.betas)
        self.timesteps: np.ndarray | None = None
        self.init_noise_sigma = 1.0

    def _alpha(self, t: float) -> float:
        return float(self.alphas_cumprod[int(t)]) if t >= 0 else 1.0

    def scale_model_input(self, sample: torch.Tensor, t: float) -> torch.Tensor:
        return sample

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: float) -> torch.Tensor:
        # q(x_t | x_0), DDPM eq. (4): x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps
        a = self._alpha(t)
        return (math.sqrt(a) * x0.double() + math.sqrt(1 - a) * noise.double()).float()

    def _x0_eps(self, model_output: torch.Tensor, sample: torch.Tensor, a: float):
        x, m = sample.double(), model_output.double()
        if self.prediction == "epsilon":
            eps = m
            x0 = (x - math.sqrt(1 - a) * eps) / math.sqrt(a)
        else:  # v = sqrt(a) eps - sqrt(1-a) x0 (Salimans & Ho 2022)
            x0 = math.sqrt(a) * x - math.sqrt(1 - a) * m
            eps = math.sqrt(a) * m + math.sqrt(1 - a) * x
        return x0, eps


class DDIM(_Base):
    def __init__(self, schedule: NoiseSchedule, prediction: str = "epsilon", eta: float = 0.0, spacing: str = "leading",
                 steps_offset: int = 0, set_alpha_to_one: bool = True):
        super().__init__(schedule, prediction, spacing, steps_offset)
        self.eta = eta
        # diffusers' set_alpha_to_one: alpha-bar before the chain's start is 1, or alpha-bar_0 (SD 1.x: False)
        self.final_alpha = 1.0 if set_alpha_to_one else float(self.alphas_cumprod[0])

    def _alpha(self, t: float) -> float:
        return float(self.alphas_cumprod[int(t)]) if t >= 0 else self.final_alpha

    def set_timesteps(self, n: int):
        self.n = n
        self.timesteps = spaced_timesteps(self.spacing, n, self.schedule.train_steps, self.steps_offset).round()

    def prev_timestep(self, t: float) -> float:
        return t - self.schedule.train_steps // self.n

    def step(self, model_output, t, sample, noise=None):
        prev_t = self.prev_timestep(t)
        a_t, a_prev = self._alpha(t), self._alpha(prev_t)
        x0, eps = self._x0_eps(model_output, sample, a_t)
        # DDIM eq. (16): sigma_t = eta * sqrt((1 - a_prev)/(1 - a_t)) * sqrt(1 - a_t/a_prev)
        var = (1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)
        std = self.eta * math.sqrt(var)
        # DDIM eq. (12)
        prev = math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev - std ** 2) * eps
        if std > 0:
            prev = prev + std * noise.double()
        return prev.float(), x0.float()


class DDPM(_Base):
    def set_timesteps(self, n: int):
        self.n = n
        self.timesteps = spaced_timesteps(self.spacing, n, self.schedule.train_steps, self.steps_offset).round()

    def step(self, model_output, t, sample, noise=None):
        prev_t = t - self.schedule.train_steps // self.n
        a_t, a_prev = self._alpha(t), self._alpha(prev_t)
        alpha_t = a_t / a_prev
        beta_t = 1 - alpha_t
        x0, _ = self._x0_eps(model_output, sample, a_t)
        # DDPM eq. (7): posterior mean of q(x_{t-1} | x_t, x_0)
        mean = (math.sqrt(a_prev) * beta_t / (1 - a_t)) * x0 + (math.sqrt(alpha_t) * (1 - a_prev) / (1 - a_t)) * sample.double()
        # posterior variance beta~_t (the "fixed small" choice), eq. (7)
        var = max((1 - a_prev) / (1 - a_t) * beta_t, 1e-20)
        if t > 0:
            mean = mean + math.sqrt(var) * noise.double()
        return mean.float(), x0.float()


class DPMSolverPP2M(_Base):
    """DPM-Solver++ multistep, second order, data prediction, final step first order to sigma = 0."""

    def __init__(self, schedule: NoiseSchedule, prediction: str = "epsilon", spacing: str = "linspace", steps_offset: int = 0):
        super().__init__(schedule, prediction, spacing, steps_offset)

    def set_timesteps(self, n: int):
        T = self.schedule.train_steps
        if self.spacing == "linspace":
            ts = np.linspace(0, T - 1, n + 1).round()[::-1][:-1].copy()
        elif self.spacing == "leading":
            # diffusers' DPMSolverMultistepScheduler: n + 1 points, the last dropped (not DDIM's n)
            ratio = T // (n + 1)
            ts = (np.arange(0, n + 1) * ratio).round()[::-1][:-1].astype(np.float64) + self.steps_offset
        else:
            ts = spaced_timesteps(self.spacing, n, T, self.steps_offset).round()
        self.timesteps = ts
        sig = np.sqrt((1 - self.alphas_cumprod) / self.alphas_cumprod)
        self.sigmas = np.concatenate([sig[ts.astype(np.int64)], [0.0]])
        self.model_outputs: list = []
        self.lower_order_nums = 0
        self.step_index = 0

    @staticmethod
    def _alpha_sigma(sigma: float):
        a = 1 / math.sqrt(sigma ** 2 + 1)
        return a, sigma * a

    @staticmethod
    def _lambda(a: float, s: float) -> float:
        return math.inf if s == 0 else math.log(a) - math.log(s)

    def step(self, model_output, t, sample, noise=None):
        i = self.step_index
        sigma_s, sigma_t = self.sigmas[i], self.sigmas[i + 1]
        a_s, s_s = self._alpha_sigma(sigma_s)
        a_t, s_t = self._alpha_sigma(sigma_t)
        # 1. data prediction x0 (DPM-Solver++ works on x0, eq. (9))
        x0, _ = self._x0_eps(model_output, sample, a_s ** 2)
        self.model_outputs = (self.model_outputs + [x0])[-2:]
        lam_t, lam_s = self._lambda(a_t, s_t), self._lambda(a_s, s_s)
        h = lam_t - lam_s
        em1 = math.expm1(-h) if math.isfinite(h) else -1.0  # exp(-h) - 1
        final = i == len(self.timesteps) - 1
        x = sample.double()
        if self.lower_order_nums < 1 or final:
            # 2a. first order, DPM-Solver++ eq. (10) (= DDIM): x_t = sigma_t/sigma_s x - alpha_t (e^{-h} - 1) x0
            prev = (s_t / s_s) * x - a_t * em1 * x0
        else:
            # 2b. second order multistep, Algorithm 2: D = (1 + 1/(2r)) m0 - 1/(2r) m1, r = h_prev/h
            m0, m1 = self.model_outputs[-1], self.model_outputs[-2]
            sigma_p = self.sigmas[i - 1]
            a_p, s_p = self._alpha_sigma(sigma_p)
            h0 = lam_s - self._lambda(a_p, s_p)
            r0 = h0 / h
            d1 = (1.0 / r0) * (m0 - m1)
            prev = (s_t / s_s) * x - a_t * em1 * m0 - 0.5 * a_t * em1 * d1
        self.lower_order_nums = min(self.lower_order_nums + 1, 2)
        self.step_index += 1
        return prev.float(), x0.float()


class Euler(_Base):
    """Euler (Karras Alg. 1, s_churn = 0) in sigma space; ancestral=True adds fresh noise each step."""

    def __init__(self, schedule: NoiseSchedule, prediction: str = "epsilon", ancestral: bool = False, spacing: str = "linspace",
                 steps_offset: int = 0):
        super().__init__(schedule, prediction, spacing, steps_offset)
        self.ancestral = ancestral
        self.train_sigmas = np.sqrt((1 - self.alphas_cumprod) / self.alphas_cumprod)

    def sigma_at(self, t: float) -> float:
        return float(np.interp(t, np.arange(len(self.train_sigmas)), self.train_sigmas))

    def set_timesteps(self, n: int):
        self.timesteps = spaced_timesteps(self.spacing, n, self.schedule.train_steps, self.steps_offset)
        self.sigmas = np.array([self.sigma_at(t) for t in self.timesteps] + [0.0])
        mx = float(self.sigmas.max())
        self.init_noise_sigma = mx if self.spacing in ("linspace", "trailing") else math.sqrt(mx ** 2 + 1)
        self.step_index = 0

    def _index(self, t: float) -> int:
        return int(np.nonzero(self.timesteps == t)[0][0])

    def scale_model_input(self, sample, t):
        s = self.sigmas[self._index(t)]
        return (sample.double() / math.sqrt(s ** 2 + 1)).float()

    def add_noise(self, x0, noise, t):
        return (x0.double() + self.sigma_at(t) * noise.double()).float()

    def step(self, model_output, t, sample, noise=None):
        i = self.step_index
        sigma, sigma_next = float(self.sigmas[i]), float(self.sigmas[i + 1])
        x, m = sample.double(), model_output.double()
        # 1. x0 from the model output in sigma space (x = x0 + sigma eps)
        if self.prediction == "epsilon":
            x0 = x - sigma * m
        else:
            x0 = m * (-sigma / math.sqrt(sigma ** 2 + 1)) + x / (sigma ** 2 + 1)
        # 2. ODE derivative, Karras eq. (5): d = (x - x0) / sigma
        d = (x - x0) / sigma
        if self.ancestral:
            # 3. split the step into a deterministic part to sigma_down and fresh noise of std sigma_up
            sigma_up = math.sqrt(sigma_next ** 2 * (sigma ** 2 - sigma_next ** 2) / sigma ** 2)
            sigma_down = math.sqrt(sigma_next ** 2 - sigma_up ** 2)
            prev = x + d * (sigma_down - sigma)
            if sigma_up > 0:
                prev = prev + noise.double() * sigma_up
        else:
            prev = x + d * (sigma_next - sigma)
        self.step_index += 1
        return prev.float(), x0.float()


SAMPLERS = ("ddpm", "ddim", "dpmpp-2m", "euler", "euler-ancestral")


def create_scheduler(name: str, schedule: NoiseSchedule, prediction: str = "epsilon", eta: float = 0.0,
                     spacing: str | None = None, steps_offset: int = 0, set_alpha_to_one: bool = True):
    """spacing None: each scheduler's diffusers default (leading for DDPM/DDIM, linspace for the others)."""
    alpha = {"spacing": spacing or "leading", "steps_offset": steps_offset}
    sigma = {"spacing": spacing or "linspace", "steps_offset": steps_offset}
    if name == "ddpm":
        return DDPM(schedule, prediction, **alpha)
    if name == "ddim":
        return DDIM(schedule, prediction, eta=eta, set_alpha_to_one=set_alpha_to_one, **alpha)
    if name == "dpmpp-2m":
        return DPMSolverPP2M(schedule, prediction, **sigma)
    if name == "euler":
        return Euler(schedule, prediction, **sigma)
    if name == "euler-ancestral":
        return Euler(schedule, prediction, ancestral=True, **sigma)
    raise ValueError(f"unknown sampler {name!r}; allowed: {', '.join(SAMPLERS)}")


def is_stochastic(name: str, eta: float = 0.0) -> bool:
    return name in ("ddpm", "euler-ancestral") or (name == "ddim" and eta > 0)
