"""A Cloud Build trigger ready for `gcloud builds triggers import`, from deploy/triggers/*.yaml.

The trigger files hold what is tested (path filters, pipeline file, substitutions); this fills
in what is per project: the repository and the build's service account, for either kind of
GitHub connection:

    # 1st gen (the Cloud Build GitHub App, global triggers)
    python -m deploy.trigger_config houseprice-ml --project P --github OWNER/REPO > ml.yaml
    # 2nd gen (a repository linked to a connection in a region)
    python -m deploy.trigger_config houseprice-ml --project P \\
        --repository projects/P/locations/REGION/connections/C/repositories/R > ml.yaml
    gcloud builds triggers import --source=ml.yaml [--region=REGION]
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from typing import Any

import yaml

from deploy.path_filters import load_triggers

BUILD_ACCOUNT = "houseprice-build"
REPOSITORY = re.compile(
    r"projects/[a-z0-9-]+/locations/[a-z0-9-]+/connections/[\w-]+/repositories/[\w.-]+"
)


def service_account(project: str) -> str:
    """The build's own account (cloudbuild_*.yaml names the same one)."""
    return f"projects/{project}/serviceAccounts/{BUILD_ACCOUNT}@{project}.iam.gserviceaccount.com"


def trigger(
    name: str, project: str, github: str | None = None, repository: str | None = None
) -> dict[str, Any]:
    """The importable trigger; exactly one of `github` (OWNER/REPO) or `repository`."""
    if (github is None) == (repository is None):
        raise ValueError("give either github=OWNER/REPO (1st gen) or repository=... (2nd gen)")
    triggers = load_triggers()
    if name not in triggers:
        raise ValueError(f"no trigger {name!r} (known: {', '.join(sorted(triggers))})")
    result = copy.deepcopy(triggers[name])
    push = result.pop("github")["push"]
    if github is not None:
        owner, _, repo = github.partition("/")
        if not owner or not repo or "/" in repo:
            raise ValueError(f"--github must be OWNER/REPO, not {github!r}")
        result["github"] = {"owner": owner, "name": repo, "push": push}
    else:
        if not REPOSITORY.fullmatch(repository or ""):
            raise ValueError(f"not a 2nd gen repository resource name: {repository!r}")
        result["repositoryEventConfig"] = {"repository": repository, "push": push}
    result["serviceAccount"] = service_account(project)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="trigger name, e.g. houseprice-ml")
    parser.add_argument("--project", required=True)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--github", help="OWNER/REPO (1st gen connection)")
    where.add_argument("--repository", help="2nd gen repository resource name")
    args = parser.parse_args(argv)
    try:
        result = trigger(args.name, args.project, args.github, args.repository)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(yaml.safe_dump(result, sort_keys=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
