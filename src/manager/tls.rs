//! TLS verification per manager (`tls_mode` none / certificate / full, optional CA file).
