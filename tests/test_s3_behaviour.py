"""The behaviour tests of the other backends, run again on the S3 store (moto in-process).

The test functions are imported from their modules, so pytest collects them here too; the
``database_url`` fixture below overrides the shared one for this module only. Tests that start
a separate process (the CLI, SIGKILL) are not repeated: moto is patched into this process only.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("moto")
import boto3
from moto import mock_aws

from tests.helpers.aws import BUCKET, fake_credentials
from tests.test_failures import (  # noqa: F401
    loaded,
    test_http_500_then_success_is_retried_and_succeeds,
    test_malformed_source_fails_run_and_keeps_data,
)
from tests.test_notify import (  # noqa: F401
    test_dead_channel_does_not_fail_run_and_next_run_delivers,
    test_smtp_receives_failure_email_with_reason,
    test_smtp_receives_success_email_with_counts_and_figures,
    test_unreachable_smtp_server_is_recorded_not_raised,
    test_webhook_receives_success_and_recovery_note,
)
from tests.test_pipeline import (  # noqa: F401
    test_all_countries_jhu_file_parses_and_joins,
    test_offline_run_uses_bundled_snapshot,
    test_one_source_changed_other_not_modified_refetches_both,
    test_real_data_initial_load_then_rerun_changes_nothing,
    test_real_revisions_2020_12_13_to_14_new_row_has_null_recovered,
    test_real_revisions_2021_06_15_to_16_insert_1_update_16,
    test_run_after_failure_reports_recovery,
)


@pytest.fixture
def database_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    fake_credentials(monkeypatch)
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield f"s3://{BUCKET}/testing"
