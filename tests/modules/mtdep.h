/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

__attribute__((visibility ("default"))) int mtdep_triple (int value);
