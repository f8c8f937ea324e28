{
  "targets": [
    {
      "target_name": "pipework_netlink",
      "sources": ["netlink.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8"]
    },
    {
      "target_name": "pipework_sys",
      "sources": ["sys.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
