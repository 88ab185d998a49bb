"""Backdoor detection: the scores, their calibration (the verdict's false-positive rate on
simulated clean models), the location and the causal check, and the paper's score."""

import math

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch import nn

from revcor.analyses import backdoor, detection
from revcor.analyses.localnoise import LocalNoise, box_sum
from revcor.core.significance import predictive_p

# --------------------------------------------------------------------------- the paper's score


def test_smoothed_combines_channels_and_keeps_the_null_scale():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(20, 3, 32, 32))
    s = detection.smoothed(z, 3)
    assert s.shape == (20, 32, 32)
    assert abs(s.std() - 1) < 0.05 and abs(s[:, 0].std() - 1) < 0.1  # borders too
    # direct computation at an interior pixel and at a corner
    c = z.sum(1) / math.sqrt(3)
    assert s[4, 10, 20] == pytest.approx(c[4, 9:12, 19:22].sum() / 3)
    assert s[4, 0, 0] == pytest.approx(c[4, :2, :2].sum() / 2)
    # NaN (empty class) counts as 0; size 1 is the channel combination alone
    z[2] = np.nan
    assert (detection.smoothed(z, 5)[2] == 0).all()
    np.testing.assert_allclose(detection.smoothed(z, 1)[0], c[0])
    with pytest.raises(ValueError, match="positive odd"):
        detection.smoothed(z, 4)


def test_excess_is_each_field_against_the_others_with_a_floor():
    rng = np.random.default_rng(2)
    f = rng.normal(size=(5, 7)) * 3
    e = detection.excess(f, 1.0)
    for i in range(5):
        others = np.delete(f, i, 0)
        np.testing.assert_allclose(e[i], (f[i] - others.mean(0)) / np.maximum(others.std(0, ddof=1), 1.0))
    agree = np.zeros((4, 3))
    agree[0, 1] = 2.0
    assert detection.excess(agree, 0.5)[0, 1] == pytest.approx(4.0)  # the others agree exactly: the floor
    with pytest.raises(ValueError, match="at least 3 fields"):
        detection.excess(f[:2], 1.0)


def test_detect_finds_an_injected_local_excess_at_the_patch():
    rng = np.random.default_rng(1)
    refs = rng.normal(size=(5, 10, 1, 28, 28))
    model = rng.normal(size=(10, 1, 28, 28))
    null_score = detection.detect(model, refs)["score"]
    attacked = model.copy()
    attacked[1, 0, 1:4, 1:4] += 3
    found = detection.detect(attacked, refs, size=3)
    assert found["class"] == 1 and found["sign"] == 1
    assert backdoor.hit(found, "x", (1, 28, 28), target=1)
    assert not backdoor.hit(found, "x", (1, 28, 28), target=2)
    assert not backdoor.hit(found, "c", (1, 28, 28), target=1)
    assert found["score"] > null_score
    fields = detection.smoothed(np.concatenate([attacked[None], refs]), 3)
    assert found["score"] == pytest.approx(np.abs(detection.excess(fields, 1.0)[0]).max())
    flat = np.zeros((2, 1, 8, 8))
    flat[0, 0, 4, 4] = 3.0  # smoothed: 1 in the 3x3 around (4, 4); references agree exactly
    dark = detection.detect(-flat, np.zeros((3, 2, 1, 8, 8)))
    assert dark["sign"] == -1 and dark["score"] == pytest.approx(1.0)
    nothing = detection.detect(np.full_like(model, np.nan), refs)
    assert nothing == {"score": 0.0, "class": -1, "row": -1, "col": -1, "sign": 0}
    with pytest.raises(ValueError, match=r"shape \(R, 10, 1, 28, 28\)"):
        detection.detect(model, refs[:, :2])


def test_hit_tolerance():
    found = {"class": 9, "row": 9, "col": 25}
    assert not backdoor.hit(found, "c", (28, 28), 9)  # box rows 1-6, rows up to 8 with tolerance 2
    assert backdoor.hit(found, "c", (28, 28), 9, tolerance=3)


def test_auroc():
    assert detection.auroc([3, 4, 5], [0, 1, 2]) == 1.0
    assert detection.auroc([0, 1], [2, 3, 4]) == 0.0
    assert detection.auroc([1, 1], [1, 1, 1]) == 0.5
    assert detection.auroc([2, 0], [1]) == 0.5
    assert detection.auroc([1, 2], [1, 0]) == pytest.approx(0.875)
    assert math.isnan(detection.auroc([], [1.0]))
    assert math.isnan(detection.auroc([1.0], []))


def test_population_counts_verdicts_and_ranks_both_scores():
    def model(role, verdict, score, paper):
        return {"role": role, "verdict": verdict, "score": score, "paper": {"score": paper}}

    models = [
        model("poisoned", "suspect", 5.0, 1.0),
        model("poisoned", "inconclusive", 0.5, 3.0),
        model("clean", "clean", 0.1, 2.0),
        model("clean", "suspect", 1.0, 0.0),
        model("reference", "clean", 0.0, 0.0),
    ]
    out = detection.population(models, ("poisoned", "clean", "reference"))
    assert out["auroc"] == pytest.approx(0.75) and out["paper_auroc"] == pytest.approx(0.75)
    assert out["suspects"] == {"poisoned": 1, "clean": 1, "reference": 0}
    assert out["inconclusives"] == {"poisoned": 1, "clean": 0, "reference": 0}
    assert out["counts"] == {"poisoned": 2, "clean": 2, "reference": 1}


# --------------------------------------------------------------------------- calibration


@pytest.mark.parametrize("family", ["gumbel", "normal"])
@pytest.mark.parametrize("references", [2, 3, 5])
def test_predictive_p_is_uniform_for_draws_of_its_family(family, references):
    """A new draw of the references' distribution, whatever its location and scale, gets a
    p-value below alpha with probability alpha."""
    rng = np.random.default_rng(references)
    u = rng.random((3000, references + 1))
    x = -np.log(-np.log(u)) if family == "gumbel" else rng.normal(size=u.shape)
    x = 7.0 + 0.3 * x
    p = np.array([predictive_p(row[0], row[1:], family) for row in x])
    for alpha in (0.01, 0.05, 0.2):
        slack = 3 * math.sqrt(alpha * (1 - alpha) / len(p))
        assert abs((p < alpha).mean() - alpha) < slack
    assert np.isnan(predictive_p(1.0, np.ones(3)))  # no spread: nothing said
    with pytest.raises(ValueError, match="at least 2"):
        predictive_p(1.0, np.ones(1))


K, SIDE, WINDOW = 4, 12, 4


def clean_models(
    rng: np.random.Generator, m: int, backdoor_at: tuple | None = None, unlike: float = 1.0
) -> list[detection.Probe]:
    """``m`` simulated clean models of one population (a backdoor in the first if asked): each
    has its own smooth deviation from a common answer pattern, in white-noise z-maps, shares
    of white noise and local-noise flip rates, answered by sampling, and 95% accuracy on clean
    images. The first deviates ``unlike`` times as much as the others and is 30 points less
    accurate (a model trained on other data) when ``unlike`` > 1."""
    ph = SIDE - WINDOW + 1

    def smooth(shape: tuple, scale: float) -> np.ndarray:
        """A smooth random field of SD about ``scale``."""
        return scale * 3 * ndimage.uniform_filter(rng.normal(size=shape), size=(1,) * (len(shape) - 2) + (3, 3))

    common_z = smooth((K, 1, SIDE, SIDE), 3.0)
    common_logit = rng.normal(size=(K, K, 1, 1)) * 0.5 + np.eye(K)[:, :, None, None] * 4
    probes = []
    for i in range(m):
        z = common_z + smooth((K, 1, SIDE, SIDE), 1.5) + rng.normal(size=(K, 1, SIDE, SIDE))
        spread = unlike if i == 0 else 1.0
        logit = common_logit + spread * (rng.normal(size=(K, K, 1, 1)) * 0.3 + smooth((K, K, ph, ph), 0.25))
        if i == 0 and backdoor_at is not None:
            (r0, c0), target = backdoor_at
            logit[:, target, r0 : r0 + 2, c0 : c0 + 2] += 8  # windows over the trigger send every class to the target
        p = np.exp(logit - logit.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        trials = rng.poisson(40, size=(K, 1, ph, ph))
        counts = np.stack(
            [
                [[rng.multinomial(trials[s, 0, a, b], p[s, :, a, b]) for b in range(ph)] for a in range(ph)]
                for s in range(K)
            ]
        ).transpose(0, 3, 1, 2)
        sums = 0.5 * box_sum(counts, WINDOW)[:, :, None] + rng.normal(size=(K, K, 1, SIDE, SIDE))
        share = rng.dirichlet(np.ones(K) * 2)
        right = 0.95 - (0.3 if unlike > 1 and i == 0 else 0.0)  # a model trained on other data is less accurate
        wrong = (1 - right) / (K - 1)
        clean = np.stack([rng.multinomial(100, np.where(np.arange(K) == c, right, wrong)) for c in range(K)])
        local = LocalNoise(counts.astype(float), sums, clean.astype(float), WINDOW)
        probes.append(detection.Probe(rng.multinomial(20000, share), z, local))
    return probes


@pytest.mark.parametrize("references", [3, 5])
def test_the_verdict_holds_its_error_rate_on_simulated_clean_models(references):
    """Clean models exchangeable with their references are called suspect at most as often as
    alpha says (within binomial slack), with the few references people have; and said to be
    unlike their references (inconclusive) at most as often too."""
    rng = np.random.default_rng(100 + references)
    runs = 300
    verdicts = [detection.scan(clean_models(rng, references + 1), alpha=0.1)["verdict"] for _ in range(runs)]
    slack = 3 * math.sqrt(0.1 * 0.9 / runs)
    assert verdicts.count("suspect") / runs <= 0.1 + slack
    assert verdicts.count("inconclusive") / runs <= 0.1 + slack
    assert verdicts.count("clean") / runs >= 0.7


def test_a_simulated_trigger_is_found_and_located():
    rng = np.random.default_rng(7)
    probes = clean_models(rng, 6, backdoor_at=((3, 5), 2))
    result = detection.scan(probes)
    assert result["verdict"] == "suspect" and result["target"] == 2
    strongest = min(result["evidence"].values(), key=lambda e: e["p_value"] / e["weight"])
    assert result["p_value"] == pytest.approx(strongest["p_value"] / strongest["weight"])  # weighted Bonferroni
    assert sum(e["weight"] for e in result["evidence"].values()) == pytest.approx(1.0)
    top, left, bottom, right = result["location"]["box"]
    # windows at (3..4, 5..6) of side 4 all cover rows 4-6, cols 6-8
    assert top <= 4 and bottom >= 7 and left <= 6 and right >= 9 and bottom - top <= WINDOW and right - left <= WINDOW
    assert result["location"]["significant"]


def test_a_model_unlike_its_references_everywhere_is_inconclusive_not_suspect():
    """A clean model that differs from its references everywhere (trained on other data):
    the references cannot say what a clean model like it looks like, and the scan says so."""
    rng = np.random.default_rng(9)
    verdicts = [detection.scan(clean_models(rng, 6, unlike=4.0)) for _ in range(10)]
    assert sum(v["verdict"] == "inconclusive" for v in verdicts) >= 8
    assert not any(v["verdict"] == "suspect" for v in verdicts)
    unlike = next(v for v in verdicts if v["verdict"] == "inconclusive")
    assert not unlike["match"]["matches"] and "unlike its references" in unlike["reason"]
    assert unlike["match"]["median_drop"] > detection.MISMATCH_DROP


def test_too_few_references_are_inconclusive_and_say_how_many():
    rng = np.random.default_rng(8)
    result = detection.scan(clean_models(rng, 3, backdoor_at=((3, 5), 2)))
    assert result["verdict"] == "inconclusive" and "at least 3" in result["reason"]
    with pytest.raises(ValueError, match="at least 2 reference"):
        detection.scan(clean_models(rng, 2))


# --------------------------------------------------------------------------- causal check


class Trigger(nn.Module):
    """Class = the image's brightness band, unless rows 2-3, cols 6-7 are bright: then class 2."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        own = (x.flatten(1).median(1).values > 0.5).long()
        logits = nn.functional.one_hot(own, 3).float()
        fired = x[:, 0, 2:4, 6:8].mean((1, 2)) > 0.9
        logits[fired] = torch.tensor([0.0, 0.0, 2.0])
        return logits


def test_causal_check_pastes_the_pattern_and_noise_and_compares():
    rng = np.random.default_rng(0)
    labels = np.arange(40) % 2
    images = (rng.integers(0, 60, (40, 1, SIDE, SIDE)) + 130 * labels[:, None, None, None]).astype(np.uint8)
    what = rng.normal(size=(1, SIDE, SIDE))
    what[0, 2:4, 6:8] = 5.0  # the map's pattern: bright on the trigger
    out = detection.causal_check(
        Trigger(), [TriggerFree()], images, labels, 2, (1, 5, 5, 9), what, per_class=15, controls=4
    )
    assert out["pattern"]["box"] == 1.0 and out["pattern"]["per_class"] == {0: 1.0, 1: 1.0}
    assert out["pattern"]["elsewhere"] == [0.0] * 4 and out["pattern"]["references"] == [0.0]
    assert 0 < out["noise"]["box"] < 0.5  # binary noise sets it off when its 4 pixels are all 1
    assert out["clean"] == 0.0 and out["images"] == 30 and len(out["elsewhere_boxes"]) == 4
    for top, left, bottom, right in out["elsewhere_boxes"]:  # controls never overlap the box
        assert bottom <= 1 or top >= 5 or right <= 5 or left >= 9


class TriggerFree(Trigger):
    """The same model without its trigger: a clean reference."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot((x.flatten(1).median(1).values > 0.5).long(), 3).float()
