import re
from pathlib import Path

from watchdog import tags

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_every_tag_is_in_the_readme_tags_table():
    section = README.split("<!-- section: tags -->", 1)[1].split("<!-- /section -->", 1)[0]
    documented = set(re.findall(r"^\| `([^`]+)` \|", section, re.M))
    declared = {v for k, v in vars(tags).items() if k.isupper() and isinstance(v, str)}
    assert declared == documented
