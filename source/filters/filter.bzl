"""gw_filter(): the cc_library of one filter folder (source/filters/<name>/)."""

def gw_filter(name, srcs, deps = [], **kwargs):
    """A filter library. alwayslink keeps the filter's static Register<> when nothing else refers
    to the object file."""
    native.cc_library(
        name = name,
        srcs = srcs,
        deps = deps + [
            "//api:api_cc",
            "//source/filters:filter_interface",
            "@system//:absl",
            "@system//:protobuf",
        ],
        alwayslink = 1,
        visibility = ["//visibility:public"],
        **kwargs
    )
