"""Float vs integer reference vs device: tensor metrics, detection agreement, first diverging layer."""
