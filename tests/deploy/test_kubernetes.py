"""k8s_ml and k8s_web: schema-valid, locked down, probed, sized, wired to what exists."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest
import yaml
from kubernetes_validate.utils import validate

from deploy.validate_manifests import CUSTOM_SCHEMAS, kustomizations, problems
from houseprice.settings import Settings
from tests.deploy.conftest import (
    KUBERNETES_VERSION,
    ROOT,
    by_kind,
    containers,
    kustomize_build,
    pod_specs,
)

NAMESPACES = {"k8s_ml": "ml", "k8s_web": "web"}
SECRET_TEMPLATES = {name: ROOT / name / "secret.example.yaml" for name in NAMESPACES}
SERVICES = {"k8s_ml": {"mlapp": 8001, "mlflow": 5000}, "k8s_web": {"webapp": 8000, "dbapp": 8002}}


@pytest.fixture(params=sorted(NAMESPACES))
def kustomization(request) -> str:
    return request.param


def read_env(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def template_secrets(name: str) -> dict[str, dict]:
    docs = yaml.safe_load_all(SECRET_TEMPLATES[name].read_text())
    return {doc["metadata"]["name"]: doc for doc in docs if doc}


def test_every_resource_validates_against_its_schema(rendered, kustomization) -> None:
    resources = rendered[kustomization]
    kinds = {r["kind"] for r in resources}
    assert {"Namespace", "Deployment", "Service", "ConfigMap", "ServiceAccount"} <= kinds
    assert [p for r in resources for p in problems(r)] == []


def test_every_overlay_validates_too(rendered_overlays) -> None:
    assert set(rendered_overlays) == set(kustomizations()) - set(NAMESPACES)
    for name, resources in rendered_overlays.items():
        assert [p for r in resources for p in problems(r)] == [], name


def test_gke_resources_are_checked_against_their_schemas(rendered) -> None:
    """The Ingress' GKE kinds have no schema in kubernetes-validate: ours catch a mistake."""
    gke = {(r["apiVersion"], r["kind"]): r for r in rendered["k8s_web"]}
    assert set(CUSTOM_SCHEMAS) <= set(gke)
    frontend = gke[("networking.gke.io/v1beta1", "FrontendConfig")]
    broken = {**frontend, "spec": {"redirectToHttp": {"enabled": True}}}
    assert any("redirectToHttp" in p for p in problems(broken))
    certificate = gke[("networking.gke.io/v1", "ManagedCertificate")]
    assert problems({**certificate, "spec": {"domains": ["Not A Host"]}})
    # An unknown kind is a problem, not silently accepted.
    assert problems({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})


def test_secret_templates_validate_too() -> None:
    for name in NAMESPACES:
        for secret in template_secrets(name).values():
            validate(secret, KUBERNETES_VERSION, strict=True)


def test_schema_validation_catches_a_mistake(rendered) -> None:
    """The validator is strict: a misspelt field in a Deployment is an error."""
    deployment = dict(by_kind(rendered["k8s_web"], "Deployment")["webapp"])
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 3}}
    with pytest.raises(Exception, match="replica"):
        validate(broken, KUBERNETES_VERSION, strict=True)


def test_everything_lands_in_its_namespace(rendered, kustomization) -> None:
    namespace = NAMESPACES[kustomization]
    resources = rendered[kustomization]
    assert (
        by_kind(resources, "Namespace")[namespace]["metadata"]["labels"][
            "pod-security.kubernetes.io/enforce"
        ]
        == "restricted"
    )
    for resource in resources:
        if resource["kind"] != "Namespace":
            assert resource["metadata"]["namespace"] == namespace, resource["metadata"]["name"]
        assert resource["metadata"]["labels"]["app.kubernetes.io/part-of"] == "houseprice"


def test_every_container_is_non_root_and_locked_down(rendered, kustomization) -> None:
    found = 0
    for where, pod, container in containers(rendered[kustomization]):
        found += 1
        pod_context = pod["securityContext"]
        assert pod_context["runAsNonRoot"] is True, where
        assert pod_context["runAsUser"] > 0, where
        assert pod_context["seccompProfile"]["type"] == "RuntimeDefault", where
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, where
        assert context["readOnlyRootFilesystem"] is True, where
        assert context["capabilities"]["drop"] == ["ALL"], where
        assert pod["automountServiceAccountToken"] is False, where
        # Read-only root: /tmp is a volume.
        mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
        if container["image"].startswith("houseprice/"):
            assert "/tmp" in mounts, where
    assert found >= 2


def test_every_container_has_requests_and_limits(rendered, kustomization) -> None:
    for where, _, container in containers(rendered[kustomization]):
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][bound]), (where, bound)


def test_every_deployment_is_probed(rendered, kustomization) -> None:
    for name, deployment in by_kind(rendered[kustomization], "Deployment").items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            liveness, readiness = container["livenessProbe"], container["readinessProbe"]
            if name in SERVICES[kustomization] and name != "mlflow":
                assert liveness["httpGet"]["path"] == "/health", name
                assert readiness["httpGet"]["path"] == "/ready", name
                # Slow starts (imports, first model load) must not trip the liveness probe.
                assert container["startupProbe"]["httpGet"]["path"] == "/health", name
            else:
                assert liveness["httpGet"]["path"] and readiness["httpGet"]["path"], name


def test_mlflow_probes_use_the_host_check_exempt_endpoint(rendered) -> None:
    """mlflow server answers 403 to Host headers outside --allowed-hosts, except on /health:
    the kubelet sends the pod IP (tests/deploy/test_mlflow_image.py runs both cases)."""
    pod = by_kind(rendered["k8s_ml"], "Deployment")["mlflow"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["path"] == "/health", probe


def test_gunicorn_services_get_their_metrics_dir_and_bind(rendered, kustomization) -> None:
    for name, port in SERVICES[kustomization].items():
        if name == "mlflow":
            continue
        pod = by_kind(rendered[kustomization], "Deployment")[name]["spec"]["template"]["spec"]
        container = pod["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["BIND"] == f"0.0.0.0:{port}"
        assert int(env["WEB_CONCURRENCY"]) >= 1
        # A subdirectory of an emptyDir: gunicorn wipes and recreates it at start, which a
        # mount point would refuse.
        metrics_dir = env["PROMETHEUS_MULTIPROC_DIR"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        parent = str(Path(metrics_dir).parent)
        assert parent in mounts and metrics_dir not in mounts
        volume = next(v for v in pod["volumes"] if v["name"] == mounts[parent])
        assert "emptyDir" in volume


def test_images_are_names_that_kustomize_images_govern(rendered, kustomization) -> None:
    """Manifests name images without registry or tag; an `images:` entry governs each one."""
    directory = ROOT / kustomization
    listed = set()
    for path in directory.rglob("*.yaml"):
        text = path.read_text()
        for image in re.findall(r"^\s*image:\s*(\S+)\s*$", text, re.M):
            assert ":" not in image and "@" not in image, (path, image)
        if path.name == "kustomization.yaml":
            listed |= {entry["name"] for entry in yaml.safe_load(text).get("images", [])}
    used = {c["image"].split(":")[0] for _, _, c in containers(rendered[kustomization])}
    assert used == listed


def test_setting_every_image_pins_every_container(tmp_path: Path, rendered, kustomization) -> None:
    """What `kustomize edit set image` does in the pipeline, then a build: no image left loose."""
    import shutil

    copy = tmp_path / kustomization
    shutil.copytree(ROOT / kustomization, copy)
    document = yaml.safe_load((copy / "kustomization.yaml").read_text())
    wanted = {c["image"] for _, _, c in containers(rendered[kustomization])}
    entries = {e["name"]: e for e in document["images"]}
    for image in wanted:
        if image.startswith("houseprice/"):
            entries[image] = {
                "name": image,
                "newName": f"europe-west1-docker.pkg.dev/p/houseprice/{image.split('/')[1]}",
                "newTag": "abc1234",
            }
    document["images"] = list(entries.values())
    (copy / "kustomization.yaml").write_text(yaml.safe_dump(document))
    for where, _, container in containers(kustomize_build(copy)):
        image = container["image"]
        assert re.fullmatch(r"[\w.-]+(/[\w.-]+)+:[\w.-]+", image), (where, image)
        assert not image.startswith("houseprice/"), (where, image)


def test_services_select_existing_pods_on_named_ports(rendered, kustomization) -> None:
    resources = rendered[kustomization]
    pod_labels = []
    ports = {}
    for resource in resources:
        if resource["kind"] == "Deployment":
            template = resource["spec"]["template"]
            pod_labels.append(template["metadata"]["labels"])
            for container in template["spec"]["containers"]:
                for port in container.get("ports", []):
                    ports[port["name"]] = port["containerPort"]
    for name, service in by_kind(resources, "Service").items():
        selector = service["spec"]["selector"]
        assert any(selector.items() <= labels.items() for labels in pod_labels), name
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, (name, port)
    for name, port in SERVICES[kustomization].items():
        assert by_kind(resources, "Service")[name]["spec"]["ports"][0]["port"] == port


def test_autoscalers_and_budgets_point_at_deployments(rendered, kustomization) -> None:
    resources = rendered[kustomization]
    deployments = by_kind(resources, "Deployment")
    for name, hpa in by_kind(resources, "HorizontalPodAutoscaler").items():
        target = deployments[hpa["spec"]["scaleTargetRef"]["name"]]
        # A replica count in the manifest would fight the autoscaler on every apply.
        assert "replicas" not in target["spec"], name
        assert hpa["spec"]["minReplicas"] >= 2
    for name, budget in by_kind(resources, "PodDisruptionBudget").items():
        selector = budget["spec"]["selector"]["matchLabels"]
        assert any(
            selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
            for d in deployments.values()
        ), name


def test_referenced_configmaps_secrets_and_accounts_exist(rendered, kustomization) -> None:
    resources = rendered[kustomization]
    configmaps = set(by_kind(resources, "ConfigMap"))
    accounts = set(by_kind(resources, "ServiceAccount"))
    templates = template_secrets(kustomization)
    for where, pod in pod_specs(resources):
        assert pod["serviceAccountName"] in accounts, where
        for volume in pod.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in configmaps, where
            if "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                assert claim in by_kind(resources, "PersistentVolumeClaim"), where
        for container in pod["containers"]:
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in configmaps, where
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    # The Secret comes from the template: same name, same key.
                    assert ref["key"] in templates[ref["name"]]["stringData"], (where, ref)


def test_settings_are_exactly_the_configmap_plus_the_secret_keys(kustomization) -> None:
    settings = {f.name for f in fields(Settings)}
    config = read_env(ROOT / kustomization / "config.env")
    secret = set(template_secrets(kustomization)["houseprice-secrets"]["stringData"])
    assert not set(config) & secret, "a setting is both in the ConfigMap and in the Secret"
    assert set(config) | secret == settings


def test_configmap_values_pass_the_settings_validation(kustomization) -> None:
    config = read_env(ROOT / kustomization / "config.env")
    placeholders = {
        "MONGO_URI": "mongodb+srv://user:pass@cluster.example.net/",
        "ADMIN_TOKEN": "x" * 32,
        "SECRET_KEY": "y" * 32,
    }
    settings = Settings.from_env({**config, **placeholders})
    assert settings.MLFLOW_TRACKING_URI.startswith("http://mlflow.ml.svc.cluster.local")
    assert all(getattr(settings, f"BUCKET_{i}").startswith("gs://") for i in (1, 2, 3))


def test_both_namespaces_share_one_configuration(rendered) -> None:
    ml = by_kind(rendered["k8s_ml"], "ConfigMap")
    web = by_kind(rendered["k8s_web"], "ConfigMap")
    (ml_name,) = [n for n in ml if n.startswith("houseprice-config-")]
    (web_name,) = [n for n in web if n.startswith("houseprice-config-")]
    assert ml[ml_name]["data"] == web[web_name]["data"]


def test_service_urls_in_the_config_point_at_real_services(rendered) -> None:
    config = read_env(ROOT / "k8s_ml" / "config.env")
    for key, (folder, name) in {
        "MLAPP_URL": ("k8s_ml", "mlapp"),
        "DBAPP_URL": ("k8s_web", "dbapp"),
        "MLFLOW_TRACKING_URI": ("k8s_ml", "mlflow"),
    }.items():
        service = by_kind(rendered[folder], "Service")[name]
        port = service["spec"]["ports"][0]["port"]
        expected = f"http://{name}.{NAMESPACES[folder]}.svc.cluster.local:{port}"
        assert config[key] == expected


def test_no_secret_is_rendered_or_committed(rendered) -> None:
    for resources in rendered.values():
        assert not [r for r in resources if r["kind"] == "Secret"]
    for name in NAMESPACES:
        for secret in template_secrets(name).values():
            assert "data" not in secret
            assert set(secret["stringData"].values()) == {"REPLACE_ME"}


def test_no_real_looking_credentials_in_deployment_files() -> None:
    suspicious = [
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
        # A URI with a password (the templates' USER:PASSWORD and "..." placeholders aside).
        re.compile(r"mongodb(\+srv)?://[^\s:/@]+:(?!PASSWORD@|\.\.\.@)[^\s@]+@"),
        re.compile(r"postgres(ql)?://[^\s:/@]+:(?!PASSWORD@|\.\.\.@)[^\s@]+@"),
        re.compile(r"\"private_key_id\""),
        re.compile(r"AIza[0-9A-Za-z_-]{35}"),  # Google API key
    ]
    files = [
        path
        for folder in ("k8s_ml", "k8s_web", "deploy", "mlflow")
        for path in (ROOT / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ] + [ROOT / "cloudbuild_1.yaml", ROOT / "cloudbuild_2.yaml"]
    for path in files:
        text = path.read_text()
        for pattern in suspicious:
            assert not pattern.search(text), f"{path}: {pattern.pattern}"
    # And the check itself recognises a leaked URI.
    assert suspicious[1].search("MONGO_URI=mongodb+srv://app:s3cr3t@cluster0.example.net/")


def read_params(environment: str) -> dict[str, str]:
    return read_env(ROOT / "overlays" / environment / "project" / "params.env")


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_workload_identity_accounts_carry_the_overlay_project(
    rendered, rendered_overlays, environment: str
) -> None:
    params = read_params(environment)
    assert params["WORKLOAD_IDENTITY_DOMAIN"] == f"{params['PROJECT_ID']}.iam.gserviceaccount.com"
    base = by_kind(rendered["k8s_ml"], "ServiceAccount")
    accounts = by_kind(rendered_overlays[f"overlays/{environment}/ml"], "ServiceAccount")
    for name in ("mlflow", "data-job", "training", "promotion"):
        annotation = "iam.gke.io/gcp-service-account"
        assert base[name]["metadata"]["annotations"][annotation].startswith(f"houseprice-{name}@")
        email = accounts[name]["metadata"]["annotations"][annotation]
        assert email == f"houseprice-{name}@{params['WORKLOAD_IDENTITY_DOMAIN']}"
    # The build-time inputs are not deployed.
    for namespace in ("ml", "web"):
        configmaps = by_kind(rendered_overlays[f"overlays/{environment}/{namespace}"], "ConfigMap")
        assert "overlay-params" not in configmaps
    pods = dict(pod_specs(rendered["k8s_ml"]))
    assert pods["Deployment/mlflow"]["serviceAccountName"] == "mlflow"
    assert pods["CronJob/data-job"]["serviceAccountName"] == "data-job"
    assert pods["CronJob/promotion"]["serviceAccountName"] == "promotion"


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_overlays_set_buckets_and_replicas_and_share_one_configuration(
    rendered_overlays, environment: str
) -> None:
    project = read_params(environment)["PROJECT_ID"]
    data = {}
    for namespace in ("ml", "web"):
        resources = rendered_overlays[f"overlays/{environment}/{namespace}"]
        (name,) = [n for n in by_kind(resources, "ConfigMap") if n.startswith("houseprice-config-")]
        data[namespace] = by_kind(resources, "ConfigMap")[name]["data"]
        # Every reference follows the merged ConfigMap's new hashed name.
        for where, _, container in containers(resources):
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] == name, where
    assert data["ml"] == data["web"]
    for i, use in ((1, "raw"), (2, "datasets"), (3, "mlflow")):
        assert data["ml"][f"BUCKET_{i}"] == f"gs://{project}-houseprice-{use}"
    Settings.from_env({**data["ml"], "MONGO_URI": "mongodb://h/", "ADMIN_TOKEN": "x" * 32})
    ml = by_kind(rendered_overlays[f"overlays/{environment}/ml"], "HorizontalPodAutoscaler")
    web = rendered_overlays[f"overlays/{environment}/web"]
    minimum = 3 if environment == "prod" else 2
    assert ml["mlapp"]["spec"]["minReplicas"] == minimum
    assert by_kind(web, "HorizontalPodAutoscaler")["webapp"]["spec"]["minReplicas"] == minimum
    assert by_kind(web, "Deployment")["dbapp"]["spec"]["replicas"] == minimum


def test_environments_differ_only_in_their_inputs(rendered_overlays) -> None:
    staging = read_params("staging")
    prod = read_params("prod")
    assert set(staging) == set(prod)
    assert staging["PROJECT_ID"] != prod["PROJECT_ID"]
    assert staging["WEB_DOMAIN"] != prod["WEB_DOMAIN"]


def test_ingress_exposes_only_webapp(rendered) -> None:
    ingresses = [r for res in rendered.values() for r in res if r["kind"] == "Ingress"]
    assert len(ingresses) == 1
    backend = ingresses[0]["spec"]["defaultBackend"]["service"]
    assert backend["name"] == "webapp" and backend["port"]["name"] == "http"
    assert ingresses[0]["metadata"]["namespace"] == "web"


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_ingress_serves_https_with_a_managed_certificate_and_redirects_http(
    rendered_overlays, environment: str
) -> None:
    resources = rendered_overlays[f"overlays/{environment}/web"]
    ingress = by_kind(resources, "Ingress")["webapp"]
    annotations = ingress["metadata"]["annotations"]
    certificate = by_kind(resources, "ManagedCertificate")[
        annotations["networking.gke.io/managed-certificates"]
    ]
    assert certificate["spec"]["domains"] == [read_params(environment)["WEB_DOMAIN"]]
    frontend = by_kind(resources, "FrontendConfig")[
        annotations["networking.gke.io/v1beta1.FrontendConfig"]
    ]
    assert frontend["spec"]["redirectToHttps"]["enabled"] is True
    assert annotations["kubernetes.io/ingress.global-static-ip-name"] == "houseprice-web"
    service = by_kind(resources, "Service")["webapp"]
    backend = yaml.safe_load(service["metadata"]["annotations"]["cloud.google.com/backend-config"])
    config = by_kind(resources, "BackendConfig")[backend["default"]]
    assert config["spec"]["healthCheck"]["requestPath"] == "/ready"
    headers = config["spec"].get("customResponseHeaders", {}).get("headers", [])
    hsts = [h for h in headers if h.startswith("Strict-Transport-Security:")]
    if environment == "prod":
        (value,) = hsts
        max_age = int(re.search(r"max-age=(\d+)", value).group(1))
        assert max_age >= 31536000
    else:
        assert hsts == []  # staging domains may still move


def test_cronjobs_never_overlap_themselves(rendered) -> None:
    for name, cronjob in by_kind(rendered["k8s_ml"], "CronJob").items():
        spec = cronjob["spec"]
        assert spec["concurrencyPolicy"] == "Forbid", name
        job = spec["jobTemplate"]["spec"]
        assert (
            job["activeDeadlineSeconds"] > 0 and job["template"]["spec"]["restartPolicy"] == "Never"
        )


# ---- network policies -------------------------------------------------------------------

Peer = tuple[str, dict[str, str]] | None  # (namespace, pod labels), None = outside the cluster


def _selects(selector: dict, labels: dict[str, str]) -> bool:
    assert "matchExpressions" not in selector, "extend the evaluator for matchExpressions"
    return selector.get("matchLabels", {}).items() <= labels.items()


def _peer_matches(peer: dict, source: Peer, target_namespace: str) -> bool:
    if source is None:
        return peer.get("ipBlock", {}).get("cidr") == "0.0.0.0/0"
    namespace, labels = source
    if "namespaceSelector" in peer:
        namespace_labels = {"kubernetes.io/metadata.name": namespace}
        if not _selects(peer["namespaceSelector"], namespace_labels):
            return False
    elif namespace != target_namespace:
        return False
    return "podSelector" not in peer or _selects(peer["podSelector"], labels)


def connection_allowed(rendered, source: Peer, target: str, port: str) -> bool:
    """Kubernetes NetworkPolicy ingress semantics for `source` -> pods of `target` on `port`."""
    namespace, labels = workload_labels(rendered)[target]
    folder = {v: k for k, v in NAMESPACES.items()}[namespace]
    policies = [
        p
        for p in by_kind(rendered[folder], "NetworkPolicy").values()
        if "Ingress" in p["spec"]["policyTypes"] and _selects(p["spec"]["podSelector"], labels)
    ]
    if not policies:
        return True
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            ports = [p["port"] for p in rule.get("ports", [])]
            if ports and port not in ports:
                continue
            if "from" not in rule or any(
                _peer_matches(peer, source, namespace) for peer in rule["from"]
            ):
                return True
    return False


def workload_labels(rendered) -> dict[str, tuple[str, dict[str, str]]]:
    """Workload name -> (namespace, its pods' labels)."""
    found = {}
    for folder, resources in rendered.items():
        for resource in resources:
            if resource["kind"] == "Deployment":
                labels = resource["spec"]["template"]["metadata"]["labels"]
            elif resource["kind"] == "CronJob":
                labels = resource["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
            else:
                continue
            found[resource["metadata"]["name"]] = (NAMESPACES[folder], labels)
    return found


@pytest.mark.parametrize(
    ("source", "target", "allowed"),
    [
        (None, "webapp", True),  # the public page, through the load balancer
        ("webapp", "dbapp", True),
        ("webapp", "mlapp", True),
        ("prometheus", "webapp", True),
        ("prometheus", "dbapp", True),
        ("prometheus", "mlapp", True),
        ("mlapp", "mlflow", True),
        ("train-linear-regression", "mlflow", True),
        (None, "dbapp", False),
        (None, "mlapp", False),
        (None, "mlflow", False),
        (None, "prometheus", False),
        ("webapp", "mlflow", False),
        ("dbapp", "mlapp", False),
        ("data-job", "mlapp", False),
        ("mlapp", "dbapp", False),
        ("data-job", "pushgateway", True),  # job metrics
        ("train-linear-regression", "pushgateway", True),
        ("prometheus", "pushgateway", True),
        (None, "pushgateway", False),
        ("webapp", "pushgateway", False),
        ("mlapp", "pushgateway", False),
        ("grafana", "prometheus", True),  # dashboards
        ("webapp", "prometheus", False),
        ("data-job", "prometheus", False),
    ],
)
def test_network_policies_allow_exactly_the_platform_flows(
    rendered, source: str | None, target: str, allowed: bool
) -> None:
    pods = workload_labels(rendered)
    peer = None if source is None else pods[source]
    assert connection_allowed(rendered, peer, target, "http") is allowed


def test_every_training_cronjob_may_reach_mlflow(rendered) -> None:
    pods = workload_labels(rendered)
    trainers = [name for name in pods if name.startswith("train-")]
    assert trainers
    for name in trainers:
        assert connection_allowed(rendered, pods[name], "mlflow", "http"), name
