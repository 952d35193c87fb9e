# A regional cluster with Dataplane V2 (it enforces the NetworkPolicies; without it they are
# accepted and ignored), Workload Identity, private nodes and shielded nodes.
resource "google_container_cluster" "houseprice" {
  name     = local.cluster
  location = var.region

  network         = google_compute_network.houseprice.id
  subnetwork      = google_compute_subnetwork.houseprice.id
  networking_mode = "VPC_NATIVE"
  ip_allocation_policy {
    cluster_secondary_range_name  = "pods"
    services_secondary_range_name = "services"
  }
  datapath_provider = "ADVANCED_DATAPATH"
  # Dataplane V2 enforces NetworkPolicies itself; the legacy Calico add-on stays off.
  network_policy {
    enabled = false
  }

  release_channel {
    channel = "REGULAR"
  }
  workload_identity_config {
    workload_pool = "${var.project_id}.svc.id.goog"
  }
  private_cluster_config {
    enable_private_nodes    = true
    enable_private_endpoint = false
    master_ipv4_cidr_block  = "172.16.0.0/28"
  }
  # The control plane answers only the listed networks and Google Cloud's own addresses (where
  # Cloud Build runs), always with an authorized Google identity.
  master_authorized_networks_config {
    gcp_public_cidrs_access_enabled = true
    dynamic "cidr_blocks" {
      for_each = var.control_plane_cidrs
      content {
        cidr_block = cidr_blocks.value
      }
    }
  }
  # checkov:skip=CKV_GCP_69:node_config is set on the node pool below (this default pool is removed)
  # checkov:skip=CKV_GCP_65:Google Groups for RBAC needs a Workspace or Cloud Identity domain; no workload uses Kubernetes RBAC (no pod mounts a token) and operators are admitted by IAM roles
  remove_default_node_pool = true
  initial_node_count       = 1
  enable_shielded_nodes    = true
  enable_intranode_visibility = true
  enable_legacy_abac       = false
  resource_labels          = local.labels

  master_auth {
    client_certificate_config {
      issue_client_certificate = false
    }
  }
  binary_authorization {
    evaluation_mode = "PROJECT_SINGLETON_POLICY_ENFORCE"
  }
  logging_service    = "logging.googleapis.com/kubernetes"
  monitoring_service = "monitoring.googleapis.com/kubernetes"
  deletion_protection = true
}

resource "google_service_account" "nodes" {
  account_id   = "houseprice-nodes"
  display_name = "houseprice GKE nodes"
}

resource "google_project_iam_member" "nodes" {
  for_each = toset([
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/artifactregistry.reader",
  ])
  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.nodes.email}"
}

resource "google_container_node_pool" "default" {
  name     = "default"
  cluster  = google_container_cluster.houseprice.id
  location = var.region

  initial_node_count = 1
  autoscaling {
    min_node_count = 1
    max_node_count = 3
  }
  management {
    auto_repair  = true
    auto_upgrade = true
  }
  node_config {
    machine_type    = "e2-standard-4"
    image_type      = "COS_CONTAINERD"
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    labels          = local.labels
    metadata = {
      disable-legacy-endpoints = "true"
    }
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
  }
}
