"""Public AWS prices used by the billing generator and the cost model.

Source: the AWS EC2 On-Demand pricing page and the public price-list API
(offer file ``AmazonEC2``), region us-east-1 (N. Virginia), Linux, shared
tenancy, as published in **January 2025** (price list version 2025-01).
Reserved rates are the 1-year Standard Reserved Instance, No Upfront,
effective hourly rate from the same price list. Spot rates are typical
us-east-1 spot prices from the EC2 Spot price history of January 2025
(spot prices move hourly; the generator varies them by +-15 %). Storage and
data transfer: Amazon EBS and S3 pricing pages and EC2 data-transfer pricing,
January 2025. Amounts in USD. These are list prices; an enterprise discount
program or Savings Plans would lower them.
"""

from __future__ import annotations

from dataclasses import dataclass

PRICE_SOURCE_DATE = "2025-01"
REGION = "us-east-1"
REGION_PREFIX = "USE1"


@dataclass(frozen=True)
class InstancePrice:
    instance_type: str
    vcpu: int
    memory_gib: float
    gpus: int
    on_demand: float  # USD per instance-hour
    reserved_1y_no_upfront: float
    spot_typical: float


INSTANCE_PRICES: dict[str, InstancePrice] = {
    p.instance_type: p
    for p in (
        InstancePrice("g4dn.xlarge", 4, 16, 1, 0.526, 0.331, 0.2155),
        InstancePrice("g4dn.2xlarge", 8, 32, 1, 0.752, 0.474, 0.3000),
        InstancePrice("g4dn.4xlarge", 16, 64, 1, 1.204, 0.759, 0.4820),
        InstancePrice("c5.2xlarge", 8, 16, 0, 0.340, 0.214, 0.1380),
        InstancePrice("c5.4xlarge", 16, 32, 0, 0.680, 0.428, 0.2740),
        InstancePrice("r5.2xlarge", 8, 64, 0, 0.504, 0.317, 0.1310),
        InstancePrice("m5.xlarge", 4, 16, 0, 0.192, 0.121, 0.0810),
    )
}

#: Amazon EBS gp3 storage, USD per GB-month.
EBS_GP3_GB_MONTH = 0.08
#: Amazon S3 Standard, first 50 TB, USD per GB-month.
S3_STANDARD_GB_MONTH = 0.023
#: EC2 data transfer out to the internet, first 10 TB / next 40 TB of a month, USD per GB.
DATA_OUT_FIRST_10TB_GB = 0.09
DATA_OUT_NEXT_40TB_GB = 0.085
#: Data transfer between availability zones, USD per GB in each direction.
INTER_AZ_GB = 0.01
#: NAT gateway, USD per hour and per GB processed.
NAT_GATEWAY_HOUR = 0.045
NAT_GATEWAY_GB = 0.045
#: Amazon EKS cluster, USD per hour.
EKS_CLUSTER_HOUR = 0.10
#: CloudWatch Logs ingestion, USD per GB.
CLOUDWATCH_LOGS_GB = 0.50
