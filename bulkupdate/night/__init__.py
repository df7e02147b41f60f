"""What runs a night: the library's entry points (runner), the control that stops them, the
progress and metrics that watch them, and the exit code that ends them."""
