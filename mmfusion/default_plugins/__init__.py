"""Built-in components, registered through the same hooks as third-party plugins.

Each module is one plugin; heavy libraries (torchvision, timm, transformers) are imported inside
the components that need them, so listing plugins stays fast.
"""

DEFAULT_PLUGINS: tuple[str, ...] = (
    "mmfusion.default_plugins.modalities",
    "mmfusion.default_plugins.torchvision_resnet",
    "mmfusion.default_plugins.timm_image",
    "mmfusion.default_plugins.hf_text",
    "mmfusion.default_plugins.hf_image",
    "mmfusion.default_plugins.concat",
    "mmfusion.default_plugins.attention",
    "mmfusion.default_plugins.missing_modality",
    "mmfusion.default_plugins.gated",
    "mmfusion.default_plugins.late",
    "mmfusion.default_plugins.tensor",
    "mmfusion.default_plugins.low_rank_tensor",
    "mmfusion.default_plugins.film",
    "mmfusion.default_plugins.sum_mean",
    "mmfusion.default_plugins.linear_head",
    "mmfusion.default_plugins.mlp_head",
    "mmfusion.default_plugins.csv_dataset",
    "mmfusion.default_plugins.easy_vqa_dataset",
    "mmfusion.default_plugins.hf_datasets",
    "mmfusion.default_plugins.corruptions",
    "mmfusion.default_plugins.losses",
    "mmfusion.default_plugins.csv_logger",
    "mmfusion.default_plugins.tensorboard_logger",
    "mmfusion.default_plugins.mlflow_logger",
    "mmfusion.default_plugins.stop_at",
)
