{
  "targets": [
    {
      "target_name": "elastripe_uring",
      "sources": ["src/ring.c", "src/device_open.c", "src/addon.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags!": ["-O3"],
      "cflags": ["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
