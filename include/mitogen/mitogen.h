/* mitogen.h — umbrella header of libmitogen-1.0
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#define MITOGEN_INSIDE

#include <mitogen/mitogen-version-macros.h>
#include <mitogen/mitogen-types.h>
#include <mitogen/mitogen-error.h>
#include <mitogen/mitogen-message.h>
#include <mitogen/mitogen-broker.h>
#include <mitogen/mitogen-stream.h>
#include <mitogen/mitogen-receiver.h>
#include <mitogen/mitogen-context.h>
#include <mitogen/mitogen-interaction.h>
#include <mitogen/mitogen-router.h>
#include <mitogen/mitogen-transport.h>
#include <mitogen/mitogen-call.h>
#include <mitogen/mitogen-identity.h>
#include <mitogen/mitogen-select.h>
#include <mitogen/mitogen-sender.h>
#include <mitogen/mitogen-channel.h>
#include <mitogen/mitogen-utils.h>
#include <mitogen/mitogen-process.h>
#include <mitogen/mitogen-transfer.h>
#include <mitogen/mitogen-fakessh.h>
#include <mitogen/mitogen-init.h>
#include <mitogen/mitogen-module.h>

#undef MITOGEN_INSIDE
