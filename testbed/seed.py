"""The Meraki organizations and networks every integration test starts from."""

from testbed.meraki_standin import MerakiStandIn

ACME, GLOBEX = "111111", "222222"
BRANCH, WAREHOUSE = "N_24329156", "L_64682949"


def seed(meraki: MerakiStandIn) -> None:
    meraki.reset()
    meraki.add_organization(ACME, "Acme Corp")
    meraki.add_organization(GLOBEX, "Globex")
    meraki.add_network(ACME, BRANCH, "Branch Office")
    meraki.add_network(ACME, WAREHOUSE, "Warehouse")
    meraki.add_network(GLOBEX, "N_999", "Globex HQ")


# The Job's variables, in the order its form shows them.
FIELD_ORDER = [
    "user_email",
    "user_name",
    "meraki_org_id",
    "meraki_access_level",
    "meraki_network",
    "meraki_network_access",
    "dryrun",
    "duration",
]
