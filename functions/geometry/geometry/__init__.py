"""Roof geometry: plane segmentation and slope detection from height data (DSM raster or point cloud)."""
