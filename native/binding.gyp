# Built by scripts/build-native.js, which finds libtorch and passes its paths
# through the environment (gyp has no other clean way to take them).
{
  "targets": [
    {
      "target_name": "clipts_torch",
      "sources": ["torch_addon.cc", "dist.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node -p \"process.env.CLIPTS_TORCH_INCLUDES || ''\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "<!@(node -p \"process.env.CLIPTS_TORCH_DEFINES || ''\")"
      ],
      "cflags!": ["-fno-exceptions", "-O3"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-O3"],
      "cflags_cc": ["-std=<!(node -p \"process.env.CLIPTS_CXX_STD || 'c++17'\")", "-O2", "-fexceptions", "-frtti", "-Wno-unused-parameter", "-Wno-deprecated-declarations"],
      "ldflags": ["<!@(node -p \"process.env.CLIPTS_TORCH_LDFLAGS || ''\")"],
      "libraries": ["<!@(node -p \"process.env.CLIPTS_TORCH_LIBS || ''\")"]
    }
  ]
}
