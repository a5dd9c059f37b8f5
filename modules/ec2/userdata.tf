locals {
  user_data = templatefile("${path.module}/templates/web_user_data.sh.tftpl", {
    app_files     = var.app_files
    region        = var.region
    db_host       = var.db_host
    db_port       = var.db_port
    db_name       = var.db_name
    db_user       = var.db_user
    db_secret_arn = var.db_secret_arn
    # rds mode: the secret is the master user's, and boot creates the app's own user from it.
    db_secret_is_master = var.db_secret_is_master
  })
}
