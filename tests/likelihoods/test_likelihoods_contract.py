"""The contract every registered likelihood honours (a base test class each likelihood's suite inherits).

The oracles are independent of the code under test: numerical quadrature of the density (continuous part
plus point mass), Monte-Carlo moments of its draws, a Kolmogorov–Smirnov test of the draws' randomised PIT
under its CDF, the CDF at its quantiles, and the torch training side's ``log_prob`` on the same raw network
outputs. A new likelihood needs one subclass here:
:func:`test_every_registered_likelihood_has_a_contract_suite` fails until it has one.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from climate_bnnp.config import ModelConfig
from climate_bnnp.likelihoods import LIKELIHOODS, build_likelihood, get_likelihood
from climate_bnnp.likelihoods.bernoulli_gamma import SCALE_FLOOR, SHAPE_FLOOR

N_DRAWS = 200_000


def _scalars(params: dict[str, Any]) -> dict[str, np.ndarray]:
    return {n: np.asarray(v, np.float64) for n, v in params.items()}


class LikelihoodContract:
    """Tests every likelihood must pass. Subclasses set :attr:`name` and the parameter cases."""

    name: ClassVar[str]
    cases: ClassVar[list[dict[str, float]]]
    """Typical parameters (scalars), as the predictive side takes them."""

    def training_module(self) -> torch.nn.Module:
        """The torch training side, as a model with this likelihood builds it (Dy = 1)."""
        return build_likelihood(ModelConfig(dim_y=1, likelihood=self.name, noise_init=0.4)).double()

    def raw_outputs(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Typical raw network outputs ``(n, num_params)``."""
        return rng.normal(0.0, 1.5, (n, self.training_module().num_params))

    def saturated(self) -> tuple[torch.nn.Module, np.ndarray, np.ndarray]:
        """A training module, extreme raw outputs ``f (n, P)`` and targets ``y (n,)``."""
        raise NotImplementedError

    @property
    def likelihood(self):
        return get_likelihood(self.name)

    # ---------------------------------------------------------------------------------------- registry
    def test_registered_under_its_name_with_its_training_side(self):
        lik = self.likelihood
        assert lik.name == self.name and LIKELIHOODS[self.name] is lik
        module = self.training_module()
        assert isinstance(module, lik.training_class()) and module.predictive == lik
        assert set(lik.variables) == {*lik.parameters, *lik.optional}
        assert set(lik.per_draw) <= set(lik.variables)

    # ------------------------------------------------------------------------------------ distribution
    def test_density_normalises_by_quadrature(self):
        lik = self.likelihood
        for case in self.cases:
            params = _scalars(case)
            mass = 0.0 if lik.point_mass is None else float(np.exp(lik.log_density(lik.point_mass, params)))
            lower, upper = lik.support

            def density(y: float, params=params) -> float:
                return float(np.exp(lik.log_density(np.asarray(y), params)))

            # split at the quartiles so quad resolves narrow peaks and integrable singularities (Gamma k < 1);
            # quad never evaluates an end point, so an atom at the lower end is not integrated
            q1, q3 = (float(lik.ppf(np.asarray(u), params)) for u in (0.25, 0.75))
            cuts = sorted({lower, *(q for q in (q1, q3) if lower < q < upper), upper})
            pieces = zip(cuts[:-1], cuts[1:], strict=True)
            total = mass + sum(integrate.quad(density, a, b, limit=400)[0] for a, b in pieces)
            assert total == pytest.approx(1.0, abs=1e-7), (case, mass, total)

    def test_moments_against_monte_carlo(self):
        lik = self.likelihood
        rng = np.random.default_rng(0)
        for case in self.cases:
            params = _scalars(case)
            y = lik.sample(params, rng, (N_DRAWS,))
            mean, var = float(lik.mean(params)), float(lik.variance(params))
            assert abs(y.mean() - mean) < 5 * math.sqrt(var / N_DRAWS), (case, y.mean(), mean)
            se_var = math.sqrt(np.var((y - mean) ** 2) / N_DRAWS)  # Monte-Carlo error of the variance
            assert abs(y.var() - var) < 5 * se_var, (case, y.var(), var, se_var)

    def test_draws_against_the_cdf(self):
        """KS test of the randomised PIT ``F(y−) + V P(Y = y)``: uniform when the draws follow the CDF."""
        lik = self.likelihood
        rng = np.random.default_rng(1)
        for case in self.cases:
            params = _scalars(case)
            y = lik.sample(params, rng, (20_000,))
            atom = np.zeros_like(y)
            if lik.point_mass is not None:
                on_atom = y == lik.point_mass
                atom[on_atom] = np.exp(lik.log_density(y[on_atom], params))
            pit = lik.cdf(y, params) - rng.uniform(size=y.shape) * atom
            assert stats.kstest(pit, "uniform").pvalue > 1e-3, case

    def test_quantiles_against_the_cdf(self):
        """``ppf(u)`` is the smallest y with ``F(y) >= u``."""
        lik = self.likelihood
        u = np.linspace(0.001, 0.999, 999)
        for case in self.cases:
            params = _scalars(case)
            q = lik.ppf(u, params)
            assert (np.diff(q) >= 0).all()
            assert (lik.cdf(q, params) >= u - 1e-9).all(), case
            below = q - 1e-7 * np.maximum(1.0, np.abs(q))
            assert (lik.cdf(below, params) <= u + 1e-9).all(), case

    def test_mixture_moments_against_monte_carlo(self):
        """Exact moments of ``shift + scale · y`` under the mixture over draws (axis 0)."""
        lik = self.likelihood
        rng = np.random.default_rng(2)
        draws = [_scalars(c) for c in self.cases]
        params = {n: np.array([d[n] for d in draws])[:, None] for n in draws[0]}  # (S, 1)
        mean, std = lik.mixture_moments(params, shift=0.5, scale=2.0)
        y = 0.5 + 2.0 * lik.sample(params, rng, (N_DRAWS // len(draws),)).reshape(-1)  # equal weights
        assert abs(y.mean() - mean[0]) < 5 * y.std() / math.sqrt(y.size)
        assert std[0] == pytest.approx(y.std(), rel=0.02)

    # ------------------------------------------------------------------------------- training vs numpy
    def test_torch_and_numpy_log_densities_agree(self):
        module = self.training_module()
        rng = np.random.default_rng(3)
        f = self.raw_outputs(rng, 64)  # (N, P)
        params = {n: v[..., 0] for n, v in module.predictive_params(f).items()}  # (N,) or ()
        y = self.likelihood.sample(params, rng)
        y[::5] = self.likelihood.sample(params, rng)[::5]  # another draw: nothing special about the first
        expected = module.log_prob(torch.as_tensor(y[:, None]), torch.as_tensor(f)).detach().numpy()  # (N,)
        np.testing.assert_allclose(self.likelihood.log_density(y, params), expected, rtol=1e-10, atol=1e-12)

    def test_torch_and_numpy_moments_agree(self):
        module = self.training_module()
        f = self.raw_outputs(np.random.default_rng(4), 64)  # (N, P)
        params = {n: v[..., 0] for n, v in module.predictive_params(f).items()}
        f_t = torch.as_tensor(f)
        for name in ("mean", "variance"):
            expected = getattr(module, name)(f_t)[..., 0].detach().numpy()  # (N,)
            got = np.broadcast_to(getattr(self.likelihood, name)(params), expected.shape)
            np.testing.assert_allclose(got, expected, rtol=1e-10, err_msg=name)

    def test_log_density_is_finite_and_matches_training_at_saturated_parameters(self):
        module, f, y = self.saturated()
        params = {n: v[..., 0] for n, v in module.predictive_params(f).items()}
        got = self.likelihood.log_density(y, params)
        expected = module.log_prob(torch.as_tensor(y[:, None]), torch.as_tensor(f)).detach().numpy()
        assert np.isfinite(expected).all() and np.isfinite(got).all(), (got, expected)
        np.testing.assert_allclose(got, expected, rtol=1e-10)


class TestGaussianContract(LikelihoodContract):
    name = "gaussian"
    cases = [{"loc": 0.3, "scale": 0.7}, {"loc": -2.0, "scale": 3.0}, {"loc": 1e3, "scale": 1e-3}]

    def saturated(self):
        module = build_likelihood(ModelConfig(dim_y=1, noise_init=1e-6, learn_noise=False)).double()
        f = np.array([[1e6], [-1e6], [0.0], [1e6]])
        y = np.array([1e6 + 1e-3, -1e6, 5.0, -1e6])  # z up to 2e12 / 1e-6: a huge but finite log density
        return module, f, y


class TestBernoulliGammaContract(LikelihoodContract):
    name = "bernoulli_gamma"
    cases = [
        {"prob": 0.3, "shape": 0.6, "scale": 2.0},
        {"prob": 0.8, "shape": 2.5, "scale": 0.4},
        {"prob": 0.05, "shape": 1.0, "scale": 1.0},
        {"prob": 1.0, "shape": 8.0, "scale": 0.1},
    ]

    def saturated(self):
        """π rounding to 1 or 0 (logit ±40, ±700), the floors of k and θ, huge k and θ, tiny and huge y."""
        module = self.training_module()
        rows = [  # (logit, raw k, raw θ, y)
            (40.0, 0.0, 0.0, 0.0),
            (700.0, 0.0, 0.0, 0.0),
            (-40.0, 0.0, 0.0, 1.5),
            (-700.0, 0.0, 0.0, 1.5),
            (40.0, -50.0, -50.0, 1e-300),  # k, θ at their floors
            (0.0, -50.0, -50.0, 0.02),
            (0.0, 500.0, 1e3, 5e5),  # softplus(v) = v here: k = 500, θ = 1000
            (0.0, 0.0, 0.0, 1e6),
        ]
        table = np.array(rows)
        assert (
            module.distribution_params(torch.tensor(table[4:5, :3]))[1].item()
            == pytest.approx(SHAPE_FLOOR, rel=1e-6)
            and SCALE_FLOOR > 0
        )
        return module, table[:, :3], table[:, 3]


def test_every_registered_likelihood_has_a_contract_suite():
    suites = {cls.name for cls in LikelihoodContract.__subclasses__()}
    assert suites == set(LIKELIHOODS), f"add a LikelihoodContract subclass for {set(LIKELIHOODS) - suites}"


@pytest.mark.parametrize("name", sorted(LIKELIHOODS))
def test_the_config_accepts_every_registered_name(name):
    """``ModelConfig.likelihood`` (config keeps its own vocabulary: it imports nothing internal) and the
    registry name the same likelihoods."""
    assert build_likelihood(ModelConfig(likelihood=name)).predictive == get_likelihood(name)


def test_an_unknown_name_is_refused_with_the_registered_ones():
    with pytest.raises(ValueError, match=r"unknown likelihood 'poisson'; the registered likelihoods are \["):
        get_likelihood("poisson")
