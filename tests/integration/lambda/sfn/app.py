# A handler that calls Step Functions with boto3, as Lambda functions do:
# under imgflow-lambda AWS_ENDPOINT_URL_SFN takes it to imgflow-api.
import boto3

sfn = boto3.client("stepfunctions")


def lambda_handler(event, context):
    machines = sfn.list_state_machines()["stateMachines"]
    arn = [m["stateMachineArn"] for m in machines if m["name"] == event["name"]][0]
    described = sfn.describe_state_machine(stateMachineArn=arn)
    return {"names": sorted(m["name"] for m in machines), "arn": arn, "status": described["status"]}
