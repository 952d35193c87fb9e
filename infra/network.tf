# VPC with private nodes, Cloud NAT on one reserved address (MongoDB Atlas' allow-list entry)
# and the peering Cloud SQL's private address needs.
resource "google_compute_network" "houseprice" {
  name                    = local.network
  auto_create_subnetworks = false
  depends_on              = [google_project_service.apis]
}

# Nothing from outside reaches the nodes except what GKE opens for its load balancer and control
# plane (its own rules, priority 1000); everything else is refused and logged.
resource "google_compute_firewall" "deny_ingress" {
  name          = "houseprice-deny-ingress"
  network       = google_compute_network.houseprice.id
  direction     = "INGRESS"
  priority      = 65534
  source_ranges = ["0.0.0.0/0"]
  deny {
    protocol = "all"
  }
  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_subnetwork" "houseprice" {
  name                     = local.network
  network                  = google_compute_network.houseprice.id
  region                   = var.region
  ip_cidr_range            = "10.10.0.0/20"
  private_ip_google_access = true
  secondary_ip_range {
    range_name    = "pods"
    ip_cidr_range = "10.20.0.0/14"
  }
  secondary_ip_range {
    range_name    = "services"
    ip_cidr_range = "10.24.0.0/20"
  }
  log_config {
    aggregation_interval = "INTERVAL_10_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_address" "nat" {
  name   = "houseprice-nat"
  region = var.region
}

resource "google_compute_router" "houseprice" {
  name    = "houseprice"
  network = google_compute_network.houseprice.id
  region  = var.region
}

resource "google_compute_router_nat" "houseprice" {
  name                               = "houseprice"
  router                             = google_compute_router.houseprice.name
  region                             = var.region
  nat_ip_allocate_option             = "MANUAL_ONLY"
  nat_ips                            = [google_compute_address.nat.self_link]
  source_subnetwork_ip_ranges_to_nat = "ALL_SUBNETWORKS_ALL_IP_RANGES"
  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}

resource "google_compute_global_address" "service_networking" {
  name          = "google-managed-services-houseprice"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  prefix_length = 16
  network       = google_compute_network.houseprice.id
}

resource "google_service_networking_connection" "sql" {
  network                 = google_compute_network.houseprice.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.service_networking.name]
}

# The Ingress' address (k8s_web/ingress.yaml: kubernetes.io/ingress.global-static-ip-name).
resource "google_compute_global_address" "web" {
  name = "houseprice-web"
}
