"""The labs whose checkers need the VM (``where = "vm"`` in their expect.toml), tested
as tests/integration/test_labs.py tests the others: the reference solution passes in
time, the untouched skeleton and the known-wrong solutions fail with the hint tied to
the reason, and the quiz keys match a real run."""

from __future__ import annotations

import labtests
import pytest

pytestmark = pytest.mark.vm

LABS = labtests.slugs("vm")


@pytest.mark.parametrize("slug", LABS)
def test_reference_solution_passes_in_time(slug, tmp_path):
    labtests.reference_solution_passes_in_time(slug, tmp_path)


@pytest.mark.parametrize("slug", LABS)
def test_untouched_skeleton_fails_with_its_hint(slug, tmp_path):
    labtests.untouched_skeleton_fails_with_its_hint(slug, tmp_path)


@pytest.mark.parametrize("variant", labtests.wrong_variants("vm"))
def test_known_wrong_solution_fails(variant, tmp_path):
    labtests.known_wrong_solution_fails(variant, tmp_path)


@pytest.mark.parametrize("slug", LABS)
def test_quiz_key_matches_a_real_run(slug, tmp_path):
    labtests.quiz_key_matches_a_real_run(slug, tmp_path)
