"""The pipeline's customer-managed KMS key: tables, stream, buckets, logs, secrets, search, cache.

One key per environment. The key policy lets the account's IAM policies grant its use
(each role is granted only the operations it performs, in ``infra.cloudformation.iam``)
and lets exactly the services that encrypt on their own behalf use it: CloudWatch Logs
(for this account's log groups only), and CloudWatch and EventBridge (to publish alarms
to the encrypted alarm topic).
"""

from __future__ import annotations

from infra.cloudformation.model import Fragment, get_att, ref, sub

__all__ = ["KEY", "KEY_ARN", "kms_key"]

KEY = "PipelineKey"
KEY_ARN = get_att(KEY, "Arn")


def kms_key() -> Fragment:
    fragment = Fragment()
    fragment.resource(
        KEY,
        "AWS::KMS::Key",
        {
            "Description": sub("auxeira ${Env}: tables, stream, buckets, logs, secrets, search and cache"),
            "EnableKeyRotation": True,
            "PendingWindowInDays": 30,
            "KeyPolicy": _policy(),
        },
        DeletionPolicy="Retain",
        UpdateReplacePolicy="Retain",
    )
    fragment.resource(
        "PipelineKeyAlias", "AWS::KMS::Alias", {"AliasName": sub("alias/auxeira-${Env}"), "TargetKeyId": ref(KEY)}
    )
    fragment.output("KeyArn", KEY_ARN, "The pipeline's KMS key", export=sub("${AWS::StackName}-KeyArn"))
    return fragment


def _policy() -> dict[str, object]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                # Without this statement no IAM policy could grant the key (KMS key policies, "Default key policy").
                "Sid": "AccountAdministersAndDelegatesThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "CloudWatchLogsEncryptsThisAccountsLogGroups",
                "Effect": "Allow",
                "Principal": {"Service": sub("logs.${AWS::Region}.amazonaws.com")},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": sub(
                            "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"
                        )
                    }
                },
            },
            {
                "Sid": "AlarmsAndRulesPublishToTheEncryptedTopic",
                "Effect": "Allow",
                "Principal": {"Service": ["cloudwatch.amazonaws.com", "events.amazonaws.com"]},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                # The statement the SNS guide gives ("Enable compatibility between event sources
                # from AWS services and encrypted topics"); SNS makes the call, so no source
                # condition is available to narrow it further.
                "Resource": "*",
            },
        ],
    }
