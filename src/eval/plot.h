// Line plots as standalone SVG files (no plotting library needed to read them).
#pragma once

#include <string>
#include <vector>

namespace ponder {

struct PlotSeries {
  std::string name;
  std::vector<double> x, y;
};

struct PlotSpec {
  std::string title, x_label, y_label;
  double y_min = 0, y_max = 1;  // fixed y range (accuracies)
  std::vector<PlotSeries> series;
};

void write_svg_plot(const std::string& path, const PlotSpec& spec);

// Text with <, > and & escaped for SVG.
std::string svg_escape(const std::string& s);

}  // namespace ponder
