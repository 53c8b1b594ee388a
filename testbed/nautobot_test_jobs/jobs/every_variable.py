"""A Job that declares every variable type a Job author uses, so the Slack form is tested against each.

It changes nothing: it logs each value it received, with its Python type, so a test can tell that what
was picked in Slack reached the Job as the type the variable stands for.
"""

from nautobot.apps.jobs import (
    BooleanVar,
    ChoiceVar,
    DryRunVar,
    FileVar,
    IntegerVar,
    IPAddressVar,
    IPAddressWithMaskVar,
    IPNetworkVar,
    Job,
    JSONVar,
    MultiChoiceVar,
    MultiObjectVar,
    ObjectVar,
    StringVar,
    TextVar,
)
from nautobot.extras.models import Status

NAME = "Every Variable Type"
COLOURS = (("red", "Red"), ("green", "Green"), ("blue", "Blue"))


class EveryVariableType(Job):
    text = StringVar(label="Text", min_length=2, max_length=20)
    notes = TextVar(label="Notes", required=False)
    count = IntegerVar(label="Count", min_value=1, max_value=10)
    flag = BooleanVar(label="Flag", required=False)
    colour = ChoiceVar(label="Colour", choices=COLOURS)
    colours = MultiChoiceVar(label="Colours", choices=COLOURS, required=False)
    status = ObjectVar(label="Status", model=Status)
    statuses = MultiObjectVar(label="Statuses", model=Status, required=False)
    address = IPAddressVar(label="Address")
    interface = IPAddressWithMaskVar(label="Interface address", required=False)
    network = IPNetworkVar(label="Network", required=False)
    settings = JSONVar(label="Settings", required=False)
    attachment = FileVar(label="Attachment", required=False)
    dryrun = DryRunVar()

    class Meta:
        name = NAME
        description = "Logs what it received for each variable type; changes nothing."
        has_sensitive_variables = False
        field_order = [  # noqa: RUF012 - Nautobot reads Meta as plain class attributes
            "text",
            "notes",
            "count",
            "flag",
            "colour",
            "colours",
            "status",
            "statuses",
            "address",
            "interface",
            "network",
            "settings",
            "attachment",
            "dryrun",
        ]

    def run(self, *, dryrun, **values):
        for name, value in values.items():
            kind = type(value).__name__
            if hasattr(value, "all"):  # a MultiObjectVar's queryset
                value = sorted(str(item) for item in value.all())
            elif hasattr(value, "pk"):  # an ObjectVar's object
                value = str(value)
            self.logger.info("%s=%r (%s)", name, value, kind)
        return {"received": sorted(values), "dryrun": dryrun}
