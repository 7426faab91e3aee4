//go:build ignore

// icon_gen draws Ferry's app icon (a ferry on water on a blue tile) into icon.png (or the path given). Run: go generate ./gui/
package main

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
)

const size = 256

func main() {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	bg := color.RGBA{0x1f, 0x5f, 0xa8, 0xff}
	water := color.RGBA{0x7f, 0xc4, 0xf0, 0xff}
	hull := color.RGBA{0xf4, 0xf4, 0xf4, 0xff}
	cabin := color.RGBA{0xff, 0xb3, 0x40, 0xff}
	const r = 48.0 // corner radius of the tile
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			fx, fy := float64(x)+0.5, float64(y)+0.5
			cx := math.Max(r-fx, math.Max(0, fx-(size-r)))
			cy := math.Max(r-fy, math.Max(0, fy-(size-r)))
			if cx*cx+cy*cy > r*r {
				continue // outside the rounded tile: transparent
			}
			c := bg
			switch {
			case fy > 170 && math.Mod(fy+8*math.Sin(fx/18), 22) < 9: // waves
				c = water
			case fy >= 128 && fy <= 168 && fx >= 40+(fy-128)*0.8 && fx <= 216-(fy-128)*0.8: // hull
				c = hull
			case fy >= 88 && fy < 128 && fx >= 84 && fx <= 172: // cabin
				c = cabin
				if fy > 98 && fy < 114 && int(fx-84)%22 > 8 && int(fx-84)%22 < 18 {
					c = bg // windows
				}
			case fy >= 60 && fy < 88 && fx >= 150 && fx <= 166: // funnel
				c = hull
			}
			img.Set(x, y, c)
		}
	}
	out := "icon.png"
	if len(os.Args) > 1 {
		out = os.Args[1]
	}
	f, err := os.Create(out)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		panic(err)
	}
}
