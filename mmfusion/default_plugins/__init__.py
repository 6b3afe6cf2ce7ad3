"""Built-in components, registered through the same hooks as third-party plugins (listed in
:data:`mmfusion.plugins.DEFAULT_PLUGINS`).

Each module is one plugin; heavy libraries (torchvision, timm, transformers) are imported inside
the components that need them, so listing plugins stays fast.
"""
