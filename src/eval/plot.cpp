#include "eval/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "core/error.h"
#include "io/safetensors.h"

namespace ponder {

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

std::string svg_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else
      out += c;
  }
  return out;
}

void write_svg_plot(const std::string& path, const PlotSpec& spec) {
  const double W = 640, H = 400, left = 70, right = 20, top = 40, bottom = 55;
  double x0 = INFINITY, x1 = -INFINITY;
  for (const auto& s : spec.series)
    for (double x : s.x) {
      x0 = std::min(x0, x);
      x1 = std::max(x1, x);
    }
  if (!(x1 > x0)) {
    x0 = 0;
    x1 = 1;
  }
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * (W - left - right); };
  auto py = [&](double y) {
    return top + (1 - (y - spec.y_min) / (spec.y_max - spec.y_min)) * (H - top - bottom);
  };
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fmt("%.0f", W) +
                    "\" height=\"" + fmt("%.0f", H) +
                    "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += "<text x=\"" + fmt("%.0f", W / 2) +
         "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" + svg_escape(spec.title) +
         "</text>\n";
  for (int i = 0; i <= 5; ++i) {  // y grid and labels
    const double y = spec.y_min + (spec.y_max - spec.y_min) * i / 5.0;
    svg += "<line x1=\"" + fmt("%.1f", left) + "\" x2=\"" + fmt("%.1f", W - right) + "\" y1=\"" +
           fmt("%.1f", py(y)) + "\" y2=\"" + fmt("%.1f", py(y)) + "\" stroke=\"#ddd\"/>\n";
    svg += "<text x=\"" + fmt("%.1f", left - 6) + "\" y=\"" + fmt("%.1f", py(y) + 4) +
           "\" text-anchor=\"end\">" + fmt("%.2f", y) + "</text>\n";
  }
  const int xt = int(std::min(16.0, x1 - x0));
  for (int i = 0; i <= xt; ++i) {  // x ticks
    const double x = x0 + (x1 - x0) * i / std::max(xt, 1);
    svg += "<text x=\"" + fmt("%.1f", px(x)) + "\" y=\"" + fmt("%.1f", H - bottom + 16) +
           "\" text-anchor=\"middle\">" +
           fmt(std::fabs(x - std::round(x)) < 1e-9 ? "%.0f" : "%.2f", x) + "</text>\n";
  }
  svg += "<text x=\"" + fmt("%.0f", (left + W - right) / 2) + "\" y=\"" + fmt("%.0f", H - 12) +
         "\" text-anchor=\"middle\">" + svg_escape(spec.x_label) + "</text>\n";
  svg += "<text transform=\"translate(18," + fmt("%.0f", (top + H - bottom) / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">" + svg_escape(spec.y_label) + "</text>\n";
  const char* colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};
  for (size_t k = 0; k < spec.series.size(); ++k) {
    const auto& s = spec.series[k];
    const char* col = colours[k % 6];
    std::string pts;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      pts += fmt("%.1f", px(s.x[i])) + "," + fmt("%.1f", py(s.y[i])) + " ";
    svg += "<polyline fill=\"none\" stroke=\"" + std::string(col) +
           "\" stroke-width=\"2\" points=\"" + pts + "\"/>\n";
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      svg += "<circle cx=\"" + fmt("%.1f", px(s.x[i])) + "\" cy=\"" + fmt("%.1f", py(s.y[i])) +
             "\" r=\"3\" fill=\"" + col + "\"/>\n";
    // Legend in the lower right, where accuracy curves rarely are.
    const double ly = H - bottom - 12 - 18 * double(spec.series.size() - 1 - k);
    svg += "<rect x=\"" + fmt("%.0f", W - right - 190) + "\" y=\"" + fmt("%.0f", ly - 5) +
           "\" width=\"14\" height=\"3\" fill=\"" + col + "\"/>\n";
    svg += "<text x=\"" + fmt("%.0f", W - right - 170) + "\" y=\"" + fmt("%.0f", ly) + "\">" +
           svg_escape(s.name) + "</text>\n";
  }
  svg += "</svg>\n";
  write_file_atomic(path, {{svg.data(), svg.size()}});
}

}  // namespace ponder
