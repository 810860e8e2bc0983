#include "eval/arc_render.h"

#include <algorithm>
#include <cstdio>

#include "eval/plot.h"
#include "io/safetensors.h"

namespace ponder {

namespace {

// The ARC palette: black, blue, red, green, yellow, grey, magenta, orange, azure, maroon.
constexpr unsigned kPalette[10] = {0x000000, 0x0074D9, 0xFF4136, 0x2ECC40, 0xFFDC00,
                                   0xAAAAAA, 0xF012BE, 0xFF851B, 0x7FDBFF, 0x870C25};

std::string hex(unsigned rgb) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%06X", rgb);
  return buf;
}

}  // namespace

std::string arc_render_terminal(const ArcRow& row, bool colour) {
  int height = 0;
  for (const auto& [caption, g] : row) height = std::max(height, g.h);
  // Each cell is two characters wide; a column is as wide as its grid or its caption.
  std::vector<size_t> width;
  for (const auto& [caption, g] : row) width.push_back(std::max(size_t(2 * g.w), caption.size()));
  std::string out;
  for (size_t i = 0; i < row.size(); ++i)
    out += row[i].first + std::string(width[i] - row[i].first.size() + 3, ' ');
  out += "\n";
  for (int r = 0; r < height; ++r) {
    for (size_t i = 0; i < row.size(); ++i) {
      const ArcGrid& g = row[i].second;
      for (int c = 0; c < g.w && r < g.h; ++c) {
        const unsigned v = g.cells[size_t(r * g.w + c)];
        if (colour) {
          char buf[48];
          std::snprintf(buf, sizeof buf, "\033[48;2;%u;%u;%um  \033[0m", kPalette[v] >> 16,
                        (kPalette[v] >> 8) & 255, kPalette[v] & 255);
          out += buf;
        } else {
          out += char('0' + v);
          out += ' ';
        }
      }
      out += std::string(width[i] - size_t(r < g.h ? 2 * g.w : 0) + 3, ' ');
    }
    out.erase(out.find_last_not_of(' ') + 1);
    out += "\n";
  }
  return out;
}

void write_arc_svg(const std::string& path, const std::string& title,
                   const std::vector<ArcRow>& rows) {
  const int cell = 12, gap = 24, caption = 18, margin = 16, title_h = 30;
  int W = 0, H = title_h + margin;
  std::vector<int> row_h;
  for (const auto& row : rows) {
    int w = margin, h = 0;
    for (const auto& [cap, g] : row) {
      w += std::max(g.w * cell, int(cap.size()) * 7) + gap;
      h = std::max(h, g.h * cell);
    }
    W = std::max(W, w + margin);
    row_h.push_back(h + caption + gap);
    H += row_h.back();
  }
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(W) +
                    "\" height=\"" + std::to_string(H) +
                    "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += "<text x=\"" + std::to_string(margin) + "\" y=\"20\" font-size=\"15\">" +
         svg_escape(title) + "</text>\n";
  int y = title_h + margin;
  for (size_t r = 0; r < rows.size(); ++r) {
    int x = margin;
    for (const auto& [cap, g] : rows[r]) {
      svg += "<text x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(y + 12) + "\">" +
             svg_escape(cap) + "</text>\n";
      for (int i = 0; i < g.h; ++i)
        for (int j = 0; j < g.w; ++j)
          svg += "<rect x=\"" + std::to_string(x + j * cell) + "\" y=\"" +
                 std::to_string(y + caption + i * cell) + "\" width=\"" + std::to_string(cell) +
                 "\" height=\"" + std::to_string(cell) + "\" fill=\"" +
                 hex(kPalette[g.cells[size_t(i * g.w + j)]]) +
                 "\" stroke=\"#555\" stroke-width=\"0.5\"/>\n";
      x += std::max(g.w * cell, int(cap.size()) * 7) + gap;
    }
    y += row_h[r];
  }
  svg += "</svg>\n";
  write_file_atomic(path, {{svg.data(), svg.size()}});
}

}  // namespace ponder
